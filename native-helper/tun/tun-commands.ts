/**
 * @module tun/tun-commands
 * The root-side commands of whole-device mode, apart from the helper's own flags (main.ts hands over to these):
 *
 *   ferry helper --tun-service --allow-user USER [--socket PATH] [--state-dir DIR]
 *       the privileged service (tun-service.ts); ends on SIGTERM or SIGINT, undoing every change
 *   ferry helper --tun-cleanup [--state-dir DIR]
 *       undoes whatever whole-device mode left (after a crash or kill -9); safe to run at any time
 *   ferry helper --install-service --user USER [--unit-dir DIR]
 *       writes the systemd unit that runs the service for USER (and cleans up before and after it)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DeviceNetwork } from './device-network.ts';
import { DEFAULT_TUN_SERVICE_SOCKET, DEFAULT_TUN_STATE_DIR, TunService } from './tun-service.ts';

export const TUN_COMMAND_FLAGS = ['--tun-service', '--tun-cleanup', '--install-service'] as const;
export const TUN_SERVICE_UNIT_NAME = 'ferry-tun.service';

export const TUN_COMMANDS_USAGE = `Whole-device mode (Linux), run as root:
  --tun-service           run the privileged service that creates the TUN device, routes, kill switch and DNS
    --allow-user USER     ... for this user's helper only (a name or a uid)
    --socket PATH         ... listening here (default ${DEFAULT_TUN_SERVICE_SOCKET})
    --state-dir DIR       ... keeping what to restore here (default ${DEFAULT_TUN_STATE_DIR})
  --tun-cleanup           undo whatever whole-device mode left (after a crash); safe to run any time [--state-dir DIR]
  --install-service       write the systemd unit ${TUN_SERVICE_UNIT_NAME} for --user USER [--unit-dir DIR]
`;

/** The command line was wrong; the message says what. */
export class TunCommandUsageError extends Error {
  override readonly name = 'TunCommandUsageError';
  readonly code = 'TUN_BAD_ARGS';
}

export function isTunCommand(argv: readonly string[]): boolean {
  return argv.some((arg) => (TUN_COMMAND_FLAGS as readonly string[]).includes(arg));
}

export type TunCommand =
  | { kind: 'service'; allowedUid: number; socketPath: string; stateDir: string }
  | { kind: 'cleanup'; stateDir: string }
  | { kind: 'install-service'; user: string; uid: number; unitDir: string };

export function parseTunCommand(argv: readonly string[], uidOf: (user: string) => number = lookUpUid): TunCommand {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        'tun-service': { type: 'boolean' },
        'tun-cleanup': { type: 'boolean' },
        'install-service': { type: 'boolean' },
        'allow-user': { type: 'string' },
        user: { type: 'string' },
        socket: { type: 'string' },
        'state-dir': { type: 'string' },
        'unit-dir': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new TunCommandUsageError(error instanceof Error ? error.message : String(error));
  }
  const modes = TUN_COMMAND_FLAGS.filter((flag) => values[flag.slice(2)] === true);
  if (modes.length !== 1) throw new TunCommandUsageError(`${modes.join(' and ')} cannot be combined`);
  const stateDir = resolve(String(values['state-dir'] ?? DEFAULT_TUN_STATE_DIR));
  const allowOnly = (allowed: readonly string[]): void => {
    for (const [name, value] of Object.entries(values)) {
      if (value !== undefined && name !== modes[0]?.slice(2) && !allowed.includes(name))
        throw new TunCommandUsageError(`--${name} does not apply with ${modes[0]}`);
    }
  };
  switch (modes[0]) {
    case '--tun-service': {
      allowOnly(['allow-user', 'socket', 'state-dir']);
      const user = values['allow-user'];
      if (typeof user !== 'string') throw new TunCommandUsageError('--tun-service needs --allow-user USER: the one user whose helper it serves');
      return { kind: 'service', allowedUid: uidOf(user), socketPath: resolve(String(values.socket ?? DEFAULT_TUN_SERVICE_SOCKET)), stateDir };
    }
    case '--tun-cleanup':
      allowOnly(['state-dir']);
      return { kind: 'cleanup', stateDir };
    default: {
      allowOnly(['user', 'unit-dir']);
      const user = values.user;
      if (typeof user !== 'string') throw new TunCommandUsageError('--install-service needs --user USER: the user whose helper may ask it');
      return { kind: 'install-service', user, uid: uidOf(user), unitDir: resolve(String(values['unit-dir'] ?? '/etc/systemd/system')) };
    }
  }
}

/** A user name or a uid to the uid (`id -u`); a TunCommandUsageError for a user that does not exist. */
function lookUpUid(user: string): number {
  if (/^\d+$/.test(user)) return Number(user);
  try {
    return Number(execFileSync('id', ['-u', '--', user], { encoding: 'utf8' }).trim());
  } catch {
    throw new TunCommandUsageError(`no such user: ${user}`);
  }
}

/** The unit `--install-service` writes: the service as root, with a cleanup before it starts and after it ends. */
export function tunServiceUnit(uid: number, user: string, ferryScript: string): string {
  const node = process.execPath;
  return `[Unit]
Description=Ferry whole-device mode for ${user} (TUN device, routes, kill switch, DNS)
After=network-online.target

[Service]
ExecStartPre=${node} ${ferryScript} helper --tun-cleanup
ExecStart=${node} ${ferryScript} helper --tun-service --allow-user ${uid}
ExecStopPost=${node} ${ferryScript} helper --tun-cleanup
Restart=on-failure
RuntimeDirectory=ferry
RuntimeDirectoryPreserve=yes

[Install]
WantedBy=multi-user.target
`;
}

export async function runTunCommand(argv: readonly string[]): Promise<void> {
  const command = parseTunCommand(argv);
  const log = (line: string): void => void process.stderr.write(`ferry helper: ${line}\n`);
  switch (command.kind) {
    case 'cleanup':
      await new DeviceNetwork(command.stateDir).cleanup();
      process.stdout.write('ferry helper: whole-device mode cleaned up: routes, rules, kill switch, DNS and the device are as before.\n');
      return;
    case 'install-service': {
      const script = resolve(process.argv[1] ?? 'bin/ferry.js');
      mkdirSync(command.unitDir, { recursive: true });
      const path = join(command.unitDir, TUN_SERVICE_UNIT_NAME);
      writeFileSync(path, tunServiceUnit(command.uid, command.user, script));
      process.stdout.write(`ferry helper: wrote ${path}; start it with: systemctl daemon-reload && systemctl enable --now ${TUN_SERVICE_UNIT_NAME}\n`);
      return;
    }
    case 'service': {
      const service = new TunService({ socketPath: command.socketPath, stateDir: command.stateDir, allowedUid: command.allowedUid, log });
      await service.start();
      process.stdout.write(`ferry helper: whole-device service listening at ${command.socketPath} for uid ${command.allowedUid} (pid ${process.pid})\n`);
      await new Promise<void>((done) => {
        const stop = (): void => {
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
          void service.stop().then(done, (error: unknown) => {
            log(`stopping failed: ${String(error)}`);
            done();
          });
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      });
      return;
    }
  }
}
