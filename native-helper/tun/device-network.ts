/**
 * @module tun/device-network
 * The system changes of whole-device mode, made by the privileged service (tun-service.ts) and undone by it or by
 * `ferry helper --tun-cleanup`. Everything it adds is findable by a fixed name, so undoing never depends on memory:
 *
 * - the TUN device `ferry0`, persistent and owned by the helper's user (who attaches to it unprivileged), with
 *   198.18.0.1/29 (the device), .2 (the system stack's NAT address) and .3 (the DNS address resolv.conf names);
 * - routing: table 1789 holds `default dev ferry0`; rule 30000 sends all IPv4 there; rules 29990 send each bypass
 *   address (the tunnel's own transport: broker, STUN, fronts, the current volunteer) to the main table, so they
 *   keep whatever route they had, with no gateway to look up;
 * - the kill switch, nftables table `inet ferry_tun`: output is dropped unless it leaves by lo or ferry0 or goes to
 *   a bypass address. IPv6 matches none of these: it is dropped, never leaked. While the helper is away the device
 *   has no reader and the kernel drops what is routed to it: the tunnel down means traffic stops, not that it leaks;
 * - DNS: /etc/resolv.conf names 198.18.0.3 (its old text, or the link it was, is kept in the state file).
 *
 * The state file is written before any change, so a crash midway still leaves the way back.
 */
import { execFile } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TunState } from './tun-service-protocol.ts';

export const TUN_DEVICE_NAME = 'ferry0';
export const TUN_DEVICE_ADDRESS = '198.18.0.1';
export const TUN_NAT_ADDRESS = '198.18.0.2';
export const TUN_DNS_ADDRESS = '198.18.0.3';
const TUN_PREFIX_LENGTH = 29;
export const TUN_ROUTE_TABLE = 1789;
export const TUN_RULE_PRIORITY = 30_000;
export const BYPASS_RULE_PRIORITY = 29_990;
export const NFT_TABLE = 'ferry_tun';
/** The file in the service's state folder that records what to restore. */
export const STATE_FILE_NAME = 'tun-state.json';
/** Most rules of one priority a cleanup deletes: far above MAX_BYPASS_ADDRESSES, even with leftovers of crashed runs. */
const MAX_RULES_DELETED = 1_000;
/** Longest any one ip or nft command may take (ms). */
const COMMAND_TIMEOUT_MS = 10_000;

/** A system change failed; the message names the command and what it said. */
export class DeviceNetworkError extends Error {
  override readonly name = 'DeviceNetworkError';
  readonly code = 'TUN_NETWORK_FAILED';
}

interface SavedState {
  uid: number;
  resolvConf: { kind: 'file'; content: string } | { kind: 'symlink'; target: string } | { kind: 'absent' };
  bypass: string[];
}

function run(command: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { timeout: COMMAND_TIMEOUT_MS }, (error, stdout, stderr) => {
      if (error) reject(new DeviceNetworkError(`${command} ${args.join(' ')}: ${stderr.trim() || error.message}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Runs a command whose failure only means "already gone" (undoing is idempotent). */
async function runQuietly(command: string, args: readonly string[]): Promise<boolean> {
  try {
    await run(command, args);
    return true;
  } catch {
    return false;
  }
}

export class DeviceNetwork {
  readonly #statePath: string;
  readonly #resolvConfPath: string;

  /** `stateDir`: where the state file lives (/run/ferry by default; tests give their own). */
  constructor(stateDir: string, resolvConfPath = '/etc/resolv.conf') {
    mkdirSync(stateDir, { recursive: true, mode: 0o755 });
    this.#statePath = join(stateDir, STATE_FILE_NAME);
    this.#resolvConfPath = resolvConfPath;
  }

  state(): TunState {
    const saved = this.#readState();
    return {
      up: saved !== undefined,
      device: TUN_DEVICE_NAME,
      deviceAddress: TUN_DEVICE_ADDRESS,
      natAddress: TUN_NAT_ADDRESS,
      dnsAddress: TUN_DNS_ADDRESS,
      bypass: saved?.bypass ?? [],
    };
  }

  /**
   * Makes every change for `uid`'s helper. If they are already in force for that user (a helper that crashed and
   * came back), only the bypass changes: undoing first would lift the kill switch for a moment, and what the old
   * helper's applications send meanwhile would leave in the clear. Anything else left from an earlier run is undone.
   */
  async up(uid: number, bypass: readonly string[]): Promise<TunState> {
    const saved = this.#readState();
    if (saved !== undefined && saved.uid === uid && (await runQuietly('ip', ['link', 'show', TUN_DEVICE_NAME]))) {
      const wanted = new Set(bypass);
      return await this.setBypass(
        bypass,
        saved.bypass.filter((address) => !wanted.has(address)),
      );
    }
    await this.cleanup();
    this.#writeState({ uid, resolvConf: this.#readResolvConf(), bypass: [...bypass] });
    try {
      await run('ip', ['tuntap', 'add', 'dev', TUN_DEVICE_NAME, 'mode', 'tun', 'user', String(uid)]);
      await run('ip', ['addr', 'add', `${TUN_DEVICE_ADDRESS}/${TUN_PREFIX_LENGTH}`, 'dev', TUN_DEVICE_NAME]);
      await run('ip', ['link', 'set', TUN_DEVICE_NAME, 'up']);
      // The kill switch goes in before the routes: there is no moment in which traffic can leave around the device.
      await run('nft', ['-f', '-'], nftRuleset(bypass));
      await run('ip', ['route', 'add', 'default', 'dev', TUN_DEVICE_NAME, 'table', String(TUN_ROUTE_TABLE)]);
      for (const address of bypass) await run('ip', ['rule', 'add', 'to', `${address}/32`, 'lookup', 'main', 'priority', String(BYPASS_RULE_PRIORITY)]);
      await run('ip', ['rule', 'add', 'lookup', String(TUN_ROUTE_TABLE), 'priority', String(TUN_RULE_PRIORITY)]);
      this.#writeResolvConf(`# written by Ferry's whole-device mode; restored when it ends\nnameserver ${TUN_DNS_ADDRESS}\n`);
    } catch (error) {
      await this.cleanup();
      throw error;
    }
    return this.state();
  }

  /** Changes the bypass addresses while up. */
  async setBypass(add: readonly string[], remove: readonly string[]): Promise<TunState> {
    const saved = this.#readState();
    if (saved === undefined) throw new DeviceNetworkError('whole-device mode is not up');
    const next = new Set(saved.bypass);
    for (const address of remove) {
      if (!next.delete(address)) continue;
      await runQuietly('ip', ['rule', 'del', 'to', `${address}/32`, 'lookup', 'main', 'priority', String(BYPASS_RULE_PRIORITY)]);
      await runQuietly('nft', ['delete', 'element', 'inet', NFT_TABLE, 'bypass', `{ ${address} }`]);
    }
    for (const address of add) {
      if (next.has(address)) continue;
      next.add(address);
      await run('nft', ['add', 'element', 'inet', NFT_TABLE, 'bypass', `{ ${address} }`]);
      await run('ip', ['rule', 'add', 'to', `${address}/32`, 'lookup', 'main', 'priority', String(BYPASS_RULE_PRIORITY)]);
    }
    this.#writeState({ ...saved, bypass: [...next] });
    return this.state();
  }

  /**
   * Undoes everything, whether or not it was made by this process or is all there: rules, table, kill switch,
   * device, resolv.conf. Safe to run any number of times (`ferry helper --tun-cleanup`, and the service at start).
   */
  async cleanup(): Promise<void> {
    const saved = this.#readState();
    // One rule goes per call, until none of that priority is left (the call fails); bounded all the same.
    for (const priority of [BYPASS_RULE_PRIORITY, TUN_RULE_PRIORITY]) {
      for (let deleted = 0; deleted < MAX_RULES_DELETED; deleted++) {
        if (!(await runQuietly('ip', ['rule', 'del', 'priority', String(priority)]))) break;
      }
    }
    await runQuietly('ip', ['route', 'flush', 'table', String(TUN_ROUTE_TABLE)]);
    await runQuietly('nft', ['delete', 'table', 'inet', NFT_TABLE]);
    await runQuietly('ip', ['link', 'delete', TUN_DEVICE_NAME]);
    if (saved !== undefined) this.#restoreResolvConf(saved.resolvConf);
    rmSync(this.#statePath, { force: true });
  }

  #readState(): SavedState | undefined {
    try {
      return JSON.parse(readFileSync(this.#statePath, 'utf8')) as SavedState;
    } catch {
      return undefined;
    }
  }

  #writeState(state: SavedState): void {
    const temporary = `${this.#statePath}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(state)}\n`, { mode: 0o600 });
    renameSync(temporary, this.#statePath);
  }

  #readResolvConf(): SavedState['resolvConf'] {
    if (!existsSync(this.#resolvConfPath) && !isSymlink(this.#resolvConfPath)) return { kind: 'absent' };
    if (isSymlink(this.#resolvConfPath)) return { kind: 'symlink', target: readlinkSync(this.#resolvConfPath) };
    return { kind: 'file', content: readFileSync(this.#resolvConfPath, 'utf8') };
  }

  /**
   * Writes in place when it is a file (in a network namespace it is a bind mount of /etc/netns/NAME/resolv.conf,
   * which cannot be replaced by a rename); a symlink (systemd-resolved's) is replaced by a file, and put back after.
   */
  #writeResolvConf(text: string): void {
    if (isSymlink(this.#resolvConfPath)) rmSync(this.#resolvConfPath);
    writeFileSync(this.#resolvConfPath, text);
  }

  #restoreResolvConf(saved: SavedState['resolvConf']): void {
    switch (saved.kind) {
      case 'file':
        writeFileSync(this.#resolvConfPath, saved.content);
        return;
      case 'symlink':
        rmSync(this.#resolvConfPath, { force: true });
        symlinkSync(saved.target, this.#resolvConfPath);
        return;
      case 'absent':
        rmSync(this.#resolvConfPath, { force: true });
        return;
    }
  }
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** The kill switch: output leaves only by lo, by the device, or to a bypass address; IPv6 by lo only. */
function nftRuleset(bypass: readonly string[]): string {
  const elements = bypass.length > 0 ? `\n    elements = { ${bypass.join(', ')} }` : '';
  return `table inet ${NFT_TABLE} {
  set bypass {
    type ipv4_addr;${elements}
  }
  chain output {
    type filter hook output priority 0; policy drop;
    oifname "lo" accept
    oifname "${TUN_DEVICE_NAME}" accept
    ip daddr @bypass accept
  }
}
`;
}
