/**
 * @module harness/lab-servers
 * What the lab tests and the lab benches start in a NAT lab (harness/nat-lab.ts): an exit and a broker on its public
 * segment, each its own `ferry` process (the exit is waited for and named in a list the operator signs; the broker
 * serves that list), an origin server in a namespace, a capture on a namespace's interface, parallel fetches.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExitInfo, NetworkRendezvous, SignedExitList } from '../protocol/exit-list.ts';
import type { FerryUser } from './ferry-user.ts';
import type { NatLab } from './nat-lab.ts';
import type { LocalOperator } from './operator.ts';
import { REPO_ROOT } from './paths.ts';
import { collectLines } from './processes.ts';
import { waitFor } from './wait.ts';

export const FERRY = join(REPO_ROOT, 'bin', 'ferry.js');
/** The origin server's child-process entry (harness/origin-process.ts). */
const ORIGIN_PROCESS = join(REPO_ROOT, 'harness', 'origin-process.ts');
/** How long a `ferry` server may take to print its ready line here. */
const READY_TIMEOUT_MS = 20_000;

export interface LabServers {
  exit: ExitInfo;
  brokerUrl: string;
  /** The signed list the broker serves. */
  signedList: SignedExitList;
}

export async function startLabServers(
  lab: NatLab,
  options: {
    operator: LocalOperator;
    exitPort: number;
    brokerPort: number;
    exitFlags?: string[];
    /** More `ferry broker` flags; --allow-same-network is always given (every lab address is in one /24). */
    brokerFlags?: string[];
    rendezvous?: NetworkRendezvous;
  },
): Promise<LabServers> {
  const service = lab.publicServiceAddress;
  const exitProcess = lab.spawn(lab.publicNamespace, process.execPath, [
    FERRY,
    'exit',
    '--host',
    service,
    '--port',
    String(options.exitPort),
    ...(options.exitFlags ?? []),
  ]);
  const exitOut = collectLines(exitProcess.stdout);
  // "ferry exit: ws://…/v1/relay ready, public key KEY (pid N)"
  const ready = await waitFor(() => exitOut.map((line) => /ready, public key (\S+) /.exec(line)).find(Boolean), 'the exit to listen', {
    timeoutMs: READY_TIMEOUT_MS,
  });
  const exit: ExitInfo = { id: 'local', url: `ws://${service}:${options.exitPort}/v1/relay`, publicKey: ready[1] ?? '' };
  const signedList = options.operator.signExitList([exit], options.rendezvous === undefined ? {} : { rendezvous: options.rendezvous });
  const listFile = join(await lab.tempDirectory(), 'exit-list.json');
  await writeFile(listFile, JSON.stringify(signedList));
  const broker = lab.spawn(lab.publicNamespace, process.execPath, [
    FERRY,
    'broker',
    '--host',
    service,
    '--port',
    String(options.brokerPort),
    '--exit-list',
    listFile,
    '--allow-same-network',
    ...(options.brokerFlags ?? []),
  ]);
  const brokerOut = collectLines(broker.stdout);
  await waitFor(() => brokerOut.some((line) => line.includes('ready')), 'the broker to listen', { timeoutMs: READY_TIMEOUT_MS });
  return { exit, brokerUrl: `http://${service}:${options.brokerPort}`, signedList };
}

/** An origin server in `namespace` serving a file of `bytes` on `host`'s address (127.0.0.1 unless given); ended with the lab. */
export async function startLabOrigin(lab: NatLab, namespace: string, bytes: number, host = '127.0.0.1'): Promise<{ port: number; sha256: string }> {
  const child = lab.spawn(namespace, process.execPath, ['--import', 'tsx', ORIGIN_PROCESS, String(bytes), host]);
  const out = collectLines(child.stdout);
  return await waitFor(
    () => out.map((line) => (line.startsWith('{') ? (JSON.parse(line) as { port: number; sha256: string }) : undefined)).find(Boolean),
    'the origin server',
    { timeoutMs: READY_TIMEOUT_MS },
  );
}

/** Resolves once the broker's metrics match `pools` (e.g. one headless volunteer of class unknown). */
export async function waitForBrokerPools(lab: NatLab, brokerUrl: string, pools: RegExp, what: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    async () => {
      const metrics = await lab.run(lab.publicNamespace, 'curl', ['-s', `${brokerUrl}/metrics`], { timeoutMs: 5_000 });
      return pools.test(metrics.stdout) || undefined;
    },
    what,
    { timeoutMs, intervalMs: 500 },
  );
}

/**
 * Wireshark's dumpcap on `namespace`'s eth0 into `file` (classic pcap, `-P`, which harness/packet-capture.ts reads and
 * tshark reads too), resolved once it writes. `filter` is a capture filter (BPF), e.g. "udp". End it with SIGTERM
 * (harness/processes.ts terminate): dumpcap then writes what it still holds and closes the file.
 */
export async function startCapture(lab: NatLab, namespace: string, file: string, filter = ''): Promise<ChildProcess> {
  const dumpcap = lab.spawn(namespace, 'dumpcap', ['-i', 'eth0', '-P', '-q', '-w', file, ...(filter === '' ? [] : ['-f', filter])]);
  await waitFor(
    () => {
      try {
        return readFileSync(file).length >= PCAP_HEADER_BYTES || undefined;
      } catch {
        return undefined;
      }
    },
    'dumpcap to start writing',
    { timeoutMs: 10_000 },
  );
  return dumpcap;
}

/** A pcap file's global header: the capture is open once it is written. */
const PCAP_HEADER_BYTES = 24;

/**
 * `count` parallel curl fetches of `url` (curl's [1-N] range makes each URL new) inside `namespace`, saved in
 * `directory`; resolves with each copy's SHA-256, and fails the test if curl does.
 */
export async function fetchInParallel(lab: NatLab, namespace: string, directory: string, url: string, count: number): Promise<string[]> {
  const separator = url.includes('?') ? '&' : '?';
  const run = await lab.run(
    namespace,
    'sh',
    [
      '-c',
      `cd '${directory}' && curl --silent --show-error --max-time 150 --parallel --parallel-immediate --parallel-max ${count} -o 'copy-#1' '${url}${separator}n=[1-${count}]' && sha256sum copy-*`,
    ],
    { timeoutMs: 170_000 },
  );
  if (run.code !== 0) throw new Error(`the parallel fetches failed: ${run.stderr}`);
  return run.stdout
    .trim()
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '');
}

/** Closes a client browser that started a helper, and the helper by pid should it outlive its browser. */
export async function closeUserAndHelper(user: FerryUser): Promise<void> {
  const helperPid = (await user.state().catch(() => undefined))?.proxyMe.helperPid ?? 0;
  await user.close();
  // The helper ends when its browser does (its stdin closes); by pid in case it did not.
  if (helperPid > 0) {
    try {
      process.kill(helperPid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
}
