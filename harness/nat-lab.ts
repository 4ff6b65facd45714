/**
 * @module harness/nat-lab
 * Real NATs on this machine, in network namespaces: a "public" segment with an RFC 5780 STUN server (coturn on two
 * addresses), and hosts: each behind its own router namespace with the nftables rules of its NAT kind, or, for
 * 'no-nat', on the public segment itself. Tests run processes inside a host namespace (`ip netns exec`, `lab.spawn`)
 * to see the network as a peer behind that NAT sees it. Needs root, iproute2, nftables and coturn (scripts/setup.js
 * installs the last two).
 *
 * The default hosts, one of each kind (`hosts: [...]` may list any kinds, repeated, in any order; host i gets
 * WAN 203.0.113.(11+i) and LAN 10.0.(i+1).0/24):
 * ```
 *  ns <id>-pub: bridge br0  203.0.113.1, .2 (STUN, coturn -L both), .10 (free for a test's servers)
 *     ├── veth ── ns <id>-r0-full-cone       wan 203.0.113.11 ── lan 10.0.1.1 ── ns <id>-h0-full-cone       10.0.1.2
 *     ├── veth ── ns <id>-r1-port-restricted wan 203.0.113.12 ── lan 10.0.2.1 ── ns <id>-h1-port-restricted 10.0.2.2
 *     ├── veth ── ns <id>-r2-symmetric       wan 203.0.113.13 ── lan 10.0.3.1 ── ns <id>-h2-symmetric       10.0.3.2
 *     └── veth ── ns <id>-h3-no-nat          203.0.113.14
 * ```
 *
 * Every address is the lab's own: TEST-NET-3 (203.0.113.0/24) and 10.0.0.0/8, only inside its namespaces; the
 * machine's own network namespace is not touched (every veth is created inside a lab namespace). `<id>` holds the
 * pid, so parallel runs never collide, and `removeStaleNatLabs()` (called by `start`) deletes what a crashed run of
 * a dead pid left behind.
 */
import { type ChildProcess, execFile, type SpawnOptions, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.ts';
import { terminate } from './processes.ts';
import { waitFor } from './wait.ts';

/** Every lab namespace starts with this, then `-<pid>-<n>-`. */
export const NAT_LAB_PREFIX = 'ferrynat';
/** The kinds of host the lab builds; by default one of each. */
export const NAT_LAB_KINDS = ['full-cone', 'port-restricted', 'symmetric', 'no-nat'] as const;
/** Most hosts one lab holds: their WAN addresses, 203.0.113.11 on, stay below 203.0.113.100. */
export const MAX_NAT_LAB_HOSTS = 64;
export type NatLabKind = (typeof NAT_LAB_KINDS)[number];

/** The STUN server's two addresses (RFC 5780 needs two) and its port; coturn's other port is this + 1. */
export const NAT_LAB_STUN_ADDRESSES = ['203.0.113.1', '203.0.113.2'] as const;
export const NAT_LAB_STUN_PORT = 3478;
/** An address on the public segment that the lab leaves to a test's own servers (broker, exit) in the public namespace. */
export const NAT_LAB_PUBLIC_SERVICE_ADDRESS = '203.0.113.10';
const PUBLIC_PREFIX_LENGTH = 24;

/** Longest one `ip` / `nft` command may take (ms); they take milliseconds. */
export const NAT_LAB_COMMAND_TIMEOUT_MS = 10_000;
/** Longest wait for coturn to answer on both addresses after it starts (ms). */
export const NAT_LAB_STUN_START_TIMEOUT_MS = 10_000;
/** How much of coturn's log is kept for an error message (characters). */
const COTURN_LOG_TAIL_CHARS = 4_000;
/** Most bytes of stdout and of stderr `run` keeps per process. */
export const NAT_LAB_MAX_OUTPUT_BYTES = 1024 * 1024;

/** Host i's address on the public segment (its router's WAN, or its own) and LAN prefix (host .2, router .1). */
function layout(index: number): { wan: string; lan: string } {
  return { wan: `203.0.113.${11 + index}`, lan: `10.0.${index + 1}` };
}

/**
 * The router's nftables rules per NAT kind. Port-restricted and symmetric drop unsolicited inbound traffic in the
 * input chain as well as forward: otherwise the first unsolicited packet to a mapped port (an RFC 5780 filtering
 * test's answer) is taken by the router itself, creates a conntrack entry that holds that port, and the next packet
 * of the host's flow is mapped to another port: the NAT would measure as symmetric.
 */
function routerRules(kind: Exclude<NatLabKind, 'no-nat'>, wanAddress: string, hostAddress: string): string {
  const dropUnsolicited = `
table ip filter {
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "lan" oifname "wan" accept
  }
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iifname "lo" accept
    iifname "lan" accept
  }
}`;
  switch (kind) {
    case 'full-cone':
      // Endpoint-independent mapping and filtering: one public address, everything inbound goes to the host.
      return `
table ip nat {
  chain prerouting {
    type nat hook prerouting priority dstnat;
    iifname "wan" dnat to ${hostAddress}
  }
  chain postrouting {
    type nat hook postrouting priority srcnat;
    oifname "wan" snat to ${wanAddress}
  }
}`;
    case 'port-restricted':
      // conntrack keeps the source port when it can (endpoint-independent mapping) and admits only exact replies.
      return `
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat;
    oifname "wan" masquerade
  }
}${dropUnsolicited}`;
    case 'symmetric':
      // A random public port for every new destination.
      return `
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat;
    oifname "wan" masquerade random
  }
}${dropUnsolicited}`;
  }
}

/** A host of the lab: where a test runs the processes that should sit behind this kind of NAT. */
export interface NatLabHost {
  kind: NatLabKind;
  /** Its place in the lab's `hosts`. */
  index: number;
  /** The namespace to run processes in (`lab.spawn(host.namespace, ...)`, or `ip netns exec NAME ...`). */
  namespace: string;
  /** The host's own address: private behind a router, public for 'no-nat'. */
  address: string;
  /** The address the public segment sees for this host: its router's WAN address, or its own. */
  publicAddress: string;
  /** The router's namespace; undefined for 'no-nat'. */
  routerNamespace?: string;
}

/** A lab command failed; the message holds the command and its stderr. */
export class NatLabError extends Error {
  override readonly name = 'NatLabError';
  readonly code = 'NAT_LAB_FAILED';
}

export interface RunResult {
  /** Exit code; null when killed by a signal (the timeout). */
  code: number | null;
  stdout: string;
  stderr: string;
}

function execText(command: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { timeout: NAT_LAB_COMMAND_TIMEOUT_MS, maxBuffer: NAT_LAB_MAX_OUTPUT_BYTES }, (error, stdout, stderr) => {
      if (error) reject(new NatLabError(`${command} ${args.join(' ')} failed: ${stderr.trim() || error.message}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

function commandExists(command: string): Promise<boolean> {
  return execText('sh', ['-c', `command -v ${command}`]).then(
    () => true,
    () => false,
  );
}

/**
 * Why the lab cannot run here: `skip` when the machine cannot have namespaces for us (not root, no `ip netns`),
 * `missing` when it could but a package is missing (a failure: scripts/setup.js installs it). Both undefined: ready.
 */
export async function natLabPrerequisites(): Promise<{ skip?: string; missing?: string }> {
  if (process.platform !== 'linux') return { skip: 'the NAT lab needs Linux network namespaces' };
  if (process.getuid?.() !== 0) return { skip: 'the NAT lab needs root (it creates network namespaces); run as root to include it' };
  if (!(await commandExists('ip'))) return { skip: 'the NAT lab needs iproute2 (`ip netns`)' };
  try {
    await execText('ip', ['netns', 'list']);
  } catch (error) {
    return { skip: `\`ip netns\` does not work here: ${error instanceof Error ? error.message : String(error)}` };
  }
  const missing: string[] = [];
  if (!(await commandExists('nft'))) missing.push('nftables (nft)');
  if (!(await commandExists('turnserver'))) missing.push('coturn (turnserver)');
  if (!(await commandExists('turnutils_natdiscovery'))) missing.push('coturn (turnutils_natdiscovery)');
  return missing.length === 0 ? {} : { missing: `${missing.join(', ')} not installed; run \`node scripts/setup.js\` as root` };
}

/** Whether `pid` is a running process (a zombie, killed but not yet reaped, is not). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/PID/stat: "pid (comm) STATE ..."; comm may hold spaces and parentheses, the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function namespaces(): Promise<string[]> {
  // `ip netns list` prints "NAME" or "NAME (id: N)".
  return (await execText('ip', ['netns', 'list'])).split('\n').flatMap((line) => (line.trim() ? [line.trim().split(/\s+/)[0]!] : []));
}

/** Kills every process still inside `namespace` (by pid, SIGKILL: these are leftovers), then deletes it. */
async function deleteNamespace(namespace: string): Promise<void> {
  const pids = await execText('ip', ['netns', 'pids', namespace]).catch(() => '');
  for (const pid of pids.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await execText('ip', ['netns', 'delete', namespace]).catch(() => {});
}

/** Whether `name` (a namespace or temporary folder) belongs to a lab whose process is gone. */
function isStale(name: string): boolean {
  const pid = new RegExp(`^${NAT_LAB_PREFIX}-(\\d+)-`).exec(name)?.[1];
  return pid !== undefined && Number(pid) !== process.pid && !pidAlive(Number(pid));
}

/** Where `ip netns exec NAME` finds files it mounts over /etc (a namespace's own /etc/hosts: writeHostsFile). */
const NETNS_ETC = '/etc/netns';

/** Deletes the namespaces (and temporary and /etc/netns folders) of labs whose process is gone: a crashed or killed run. Returns the namespaces. */

export async function removeStaleNatLabs(): Promise<string[]> {
  const stale = (await namespaces()).filter(isStale);
  for (const name of stale) await deleteNamespace(name);
  for (const folder of (await readdir(NETNS_ETC).catch(() => [] as string[])).filter(isStale))
    await rm(join(NETNS_ETC, folder), { recursive: true, force: true });
  for (const folder of (await readdir(tmpdir())).filter(isStale)) await rm(join(tmpdir(), folder), { recursive: true, force: true });
  return stale;
}

export interface NatLabOptions {
  /** The hosts to build, by kind; a kind may repeat (two port-restricted peers). Default: NAT_LAB_KINDS, one each. */
  hosts?: readonly NatLabKind[];
  log?(line: string): void;
}

let labsStarted = 0;

/** A running lab. Always `close()` it (in `after` or `finally`): that removes everything it made. */
export class NatLab {
  /** Every namespace name of this lab starts with this. */
  readonly id: string;
  /** The namespace of the public segment, where the STUN server runs and a test may run its own servers. */
  readonly publicNamespace: string;
  /** The STUN server: primary (what clients are given) and other address (what it answers from for CHANGE-REQUEST). */
  readonly stun = {
    primary: { host: NAT_LAB_STUN_ADDRESSES[0], port: NAT_LAB_STUN_PORT },
    other: { host: NAT_LAB_STUN_ADDRESSES[1], port: NAT_LAB_STUN_PORT + 1 },
    url: `stun:${NAT_LAB_STUN_ADDRESSES[0]}:${NAT_LAB_STUN_PORT}`,
  } as const;
  /** Free on the public segment for a test's own servers in publicNamespace. */
  readonly publicServiceAddress = NAT_LAB_PUBLIC_SERVICE_ADDRESS;

  readonly #hosts: NatLabHost[] = [];
  /** /etc/netns folders this lab wrote (writeHostsFile), deleted at close(). */
  readonly #etcFolders: string[] = [];
  /** Created namespaces, in creation order (deleted in reverse). */
  readonly #namespaces: string[] = [];
  readonly #children = new Set<ChildProcess>();
  readonly #log: (line: string) => void;
  #tempDir: string | undefined;
  #closed = false;

  private constructor(options: NatLabOptions) {
    labsStarted += 1;
    this.id = `${NAT_LAB_PREFIX}-${process.pid}-${labsStarted}`;
    this.publicNamespace = `${this.id}-pub`;
    this.#log = options.log ?? (() => {});
  }

  /** Builds the lab and starts the STUN server. On any failure it removes what it built and throws. */
  static async start(options: NatLabOptions = {}): Promise<NatLab> {
    const removed = await removeStaleNatLabs();
    const lab = new NatLab(options);
    if (removed.length > 0) lab.#log(`removed ${removed.length} namespaces left by earlier runs: ${removed.join(', ')}`);
    try {
      await lab.#build(options.hosts ?? NAT_LAB_KINDS);
      await lab.#startStun();
    } catch (error) {
      await lab.close();
      throw error;
    }
    return lab;
  }

  /** The `nth` (from 0) host of `kind`; throws if the lab has no such host. */
  host(kind: NatLabKind, nth = 0): NatLabHost {
    const host = this.#hosts.filter((candidate) => candidate.kind === kind)[nth];
    if (host === undefined) throw new NatLabError(`this lab has no ${kind} host number ${nth}`);
    return host;
  }

  /** A folder of this lab's (deleted at close()), for files its processes read, such as a signed exit list. */
  async tempDirectory(): Promise<string> {
    if (this.#tempDir === undefined) throw new NatLabError('the lab has not started');
    return this.#tempDir;
  }

  /**
   * Forwards TCP `port` on a NAT'd host's router to the host, as an operator forwards the port of a server behind its
   * NAT (the NAT probe's HTTP endpoint): reachable at `host.publicAddress:port`, while UDP keeps the router's NAT
   * behaviour. Full-cone routers forward everything already.
   */
  async forwardTcpPort(host: NatLabHost, port: number): Promise<void> {
    if (host.routerNamespace === undefined || host.kind === 'full-cone') return;
    const rules = [
      `add chain ip nat prerouting { type nat hook prerouting priority dstnat; }`,
      `add rule ip nat prerouting iifname "wan" tcp dport ${port} dnat to ${host.address}:${port}`,
      `add rule ip filter forward iifname "wan" tcp dport ${port} ct status dnat accept`,
    ].join('\n');
    await execText('ip', ['netns', 'exec', host.routerNamespace, 'nft', '-f', '-'], `${rules}\n`);
  }

  /**
   * Gives `namespace` its own /etc/hosts (`ip netns exec` mounts /etc/netns/NAME/hosts over it for every process it
   * starts there): names that resolve only inside the lab, such as a CDN's. Removed at close().
   */
  async writeHostsFile(namespace: string, entries: ReadonlyArray<{ address: string; name: string }>): Promise<void> {
    await this.writeEtcFile(namespace, 'hosts', `127.0.0.1 localhost\n${entries.map((entry) => `${entry.address} ${entry.name}`).join('\n')}\n`);
  }

  /**
   * Gives `namespace` its own /etc/`name` (hosts, resolv.conf), mounted over the machine's for every process `ip netns
   * exec` starts there: what those processes change in it stays in the lab. Removed at close().
   */
  async writeEtcFile(namespace: string, name: 'hosts' | 'resolv.conf', content: string): Promise<void> {
    if (!this.#namespaces.includes(namespace)) throw new NatLabError(`${namespace} is not a namespace of this lab`);
    const folder = join(NETNS_ETC, namespace);
    await mkdir(folder, { recursive: true });
    if (!this.#etcFolders.includes(folder)) this.#etcFolders.push(folder);
    await writeFile(join(folder, name), content);
  }

  /** Every host, in the order of `options.hosts`. */
  get hosts(): NatLabHost[] {
    return [...this.#hosts];
  }

  /**
   * Starts `command args` inside `namespace` (`ip netns exec`), in its own process group, from the repository root
   * unless `options.cwd` says otherwise. The lab ends it at `close()` unless it ended before; end it earlier with
   * harness/processes.ts `terminate(child)`.
   */
  spawn(namespace: string, command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    if (this.#closed) throw new NatLabError('the lab is closed');
    if (!this.#namespaces.includes(namespace)) throw new NatLabError(`${namespace} is not a namespace of this lab`);
    const child = spawn('ip', ['netns', 'exec', namespace, command, ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...options,
      detached: true,
    });
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    child.once('error', (error) => this.#log(`${command} in ${namespace} failed to start: ${error.message}`));
    return child;
  }

  /** Runs `command args` inside `namespace` to its end, at most `timeoutMs` (then it is killed and `code` is null). */
  async run(namespace: string, command: string, args: readonly string[], options: { timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<RunResult> {
    const child = this.spawn(namespace, command, args, options.env ? { env: options.env } : {});
    const out = { stdout: '', stderr: '' };
    for (const stream of ['stdout', 'stderr'] as const) {
      child[stream]?.setEncoding('utf8');
      child[stream]?.on('data', (chunk: string) => {
        if (out[stream].length < NAT_LAB_MAX_OUTPUT_BYTES) out[stream] += chunk;
      });
    }
    const timer = setTimeout(() => void terminate(child, 1_000), options.timeoutMs);
    const code = await new Promise<number | null>((resolve) => {
      child.once('close', (exitCode) => resolve(exitCode));
      child.once('error', () => resolve(null));
    });
    clearTimeout(timer);
    return { code, ...out };
  }

  /** Ends every process the lab started (by pid), then deletes every namespace it created. Safe to call twice. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#children].map((child) => terminate(child, 2_000)));
    for (const namespace of [...this.#namespaces].reverse()) await deleteNamespace(namespace);
    this.#namespaces.length = 0;
    for (const folder of this.#etcFolders.splice(0)) await rm(folder, { recursive: true, force: true });
    if (this.#tempDir !== undefined) await rm(this.#tempDir, { recursive: true, force: true });
    this.#tempDir = undefined;
  }

  async #ip(...args: string[]): Promise<void> {
    await execText('ip', args);
  }

  async #addNamespace(name: string): Promise<void> {
    await this.#ip('netns', 'add', name);
    this.#namespaces.push(name);
    await this.#ip('-n', name, 'link', 'set', 'lo', 'up');
  }

  async #build(kinds: readonly NatLabKind[]): Promise<void> {
    if (kinds.length > MAX_NAT_LAB_HOSTS) throw new NatLabError(`a lab holds at most ${MAX_NAT_LAB_HOSTS} hosts, asked for ${kinds.length}`);
    const pub = this.publicNamespace;
    await this.#addNamespace(pub);
    await this.#ip('-n', pub, 'link', 'add', 'br0', 'type', 'bridge');
    await this.#ip('-n', pub, 'link', 'set', 'br0', 'up');
    for (const address of [...NAT_LAB_STUN_ADDRESSES, NAT_LAB_PUBLIC_SERVICE_ADDRESS]) {
      await this.#ip('-n', pub, 'addr', 'add', `${address}/${PUBLIC_PREFIX_LENGTH}`, 'dev', 'br0');
    }
    for (const [index, kind] of kinds.entries()) {
      const { wan, lan } = layout(index);
      const hostNamespace = `${this.id}-h${index}-${kind}`;
      // The side that faces the public segment: the router's WAN, or the no-NAT host itself.
      const edgeNamespace = kind === 'no-nat' ? hostNamespace : `${this.id}-r${index}-${kind}`;
      await this.#addNamespace(edgeNamespace);
      // Created inside the lab's namespaces, so interface names never meet the machine's own or another run's.
      const bridgePort = `port${index}`;
      const edgeDevice = kind === 'no-nat' ? 'eth0' : 'wan';
      await this.#ip('-n', edgeNamespace, 'link', 'add', edgeDevice, 'type', 'veth', 'peer', 'name', bridgePort, 'netns', pub);
      await this.#ip('-n', pub, 'link', 'set', bridgePort, 'master', 'br0');
      await this.#ip('-n', pub, 'link', 'set', bridgePort, 'up');
      await this.#ip('-n', edgeNamespace, 'addr', 'add', `${wan}/${PUBLIC_PREFIX_LENGTH}`, 'dev', edgeDevice);
      await this.#ip('-n', edgeNamespace, 'link', 'set', edgeDevice, 'up');
      if (kind === 'no-nat') {
        this.#hosts.push({ kind, index, namespace: hostNamespace, address: wan, publicAddress: wan });
        continue;
      }
      await this.#addNamespace(hostNamespace);
      await this.#ip('-n', edgeNamespace, 'link', 'add', 'lan', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', hostNamespace);
      await this.#ip('-n', edgeNamespace, 'addr', 'add', `${lan}.1/24`, 'dev', 'lan');
      await this.#ip('-n', edgeNamespace, 'link', 'set', 'lan', 'up');
      await this.#ip('-n', hostNamespace, 'addr', 'add', `${lan}.2/24`, 'dev', 'eth0');
      await this.#ip('-n', hostNamespace, 'link', 'set', 'eth0', 'up');
      await this.#ip('-n', hostNamespace, 'route', 'add', 'default', 'via', `${lan}.1`);
      // /proc/sys/net is the reading process's namespace's (and procps' sysctl may not be installed).
      await execText('ip', ['netns', 'exec', edgeNamespace, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
      await execText('ip', ['netns', 'exec', edgeNamespace, 'nft', '-f', '-'], routerRules(kind, wan, `${lan}.2`));
      this.#hosts.push({ kind, index, namespace: hostNamespace, address: `${lan}.2`, publicAddress: wan, routerNamespace: edgeNamespace });
    }
    this.#log(`NAT lab ${this.id}: ${this.#hosts.map((host) => `${host.kind} ${host.address}`).join(', ')}`);
  }

  async #startStun(): Promise<void> {
    this.#tempDir = await mkdtemp(join(tmpdir(), `${this.id}-`));
    const [primary, other] = NAT_LAB_STUN_ADDRESSES;
    const coturn = this.spawn(this.publicNamespace, 'turnserver', [
      ...['-L', primary, '-L', other, '-p', String(NAT_LAB_STUN_PORT)],
      ...['--stun-only', '--no-auth', '--no-cli', '--no-tls', '--no-dtls', '-n'],
      // Its own pid file and no log file: two labs at once must not share /var/run/turnserver.pid.
      ...['--pidfile', join(this.#tempDir, 'turnserver.pid'), '--log-file', 'stdout', '--simple-log'],
    ]);
    // The end of its log, for the error if it does not come up (read, so a full pipe never blocks it).
    let logTail = '';
    for (const stream of [coturn.stdout, coturn.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        logTail = (logTail + chunk).slice(-COTURN_LOG_TAIL_CHARS);
      });
    }
    let exited = false;
    coturn.once('exit', () => (exited = true));
    // Ready when it holds both ports on both addresses (RFC 5780 answers come from all four).
    const wanted = [primary, other].flatMap((address) => [`${address}:${NAT_LAB_STUN_PORT}`, `${address}:${NAT_LAB_STUN_PORT + 1}`]);
    await waitFor(
      async () => {
        if (exited) throw new NatLabError(`coturn (turnserver) exited at start; the end of its log:\n${logTail}`);
        const sockets = await execText('ip', ['netns', 'exec', this.publicNamespace, 'ss', '-Hlun']);
        return wanted.every((address) => sockets.includes(address));
      },
      `coturn to listen on ${wanted.join(', ')}`,
      { timeoutMs: NAT_LAB_STUN_START_TIMEOUT_MS, intervalMs: 50 },
    );
    this.#log(`NAT lab ${this.id}: STUN server (coturn pid ${coturn.pid}) at ${this.stun.url}, other address ${other}:${NAT_LAB_STUN_PORT + 1}`);
  }
}
