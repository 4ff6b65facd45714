/**
 * @module harness/whole-device-lab
 * The stage for whole-device mode, built in lab namespaces (harness/nat-lab.ts): a client namespace that runs the
 * privileged service (`ferry helper --tun-service`, as root) and whatever client a test or the bench puts there; a
 * volunteer namespace (`ferry volunteer`); an origin namespace whose name (origin.test) only the exit's resolver knows;
 * the broker and the exit on the public segment. The client's own resolver is an address nobody serves, so a query
 * that leaked around the tunnel would show in a capture instead of being answered.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { ExitInfo } from '../protocol/exit-list.ts';
import { FerryUser } from './ferry-user.ts';
import { closeUserAndHelper, FERRY, startCapture, startLabOrigin, startLabServers, waitForBrokerPools } from './lab-servers.ts';
import { NatLab, type NatLabHost, type RunResult } from './nat-lab.ts';
import { LocalOperator } from './operator.ts';
import { readPcap } from './packet-capture.ts';
import { collectLines, terminate } from './processes.ts';
import { waitFor } from './wait.ts';

/** The origin's name: in the public segment's hosts file (where the exit resolves), nowhere else. */
export const WHOLE_DEVICE_ORIGIN_NAME = 'origin.test';
/** The client namespace's resolver: an address nobody serves (TEST-NET-3, outside the lab's own addresses). */
const UNSERVED_RESOLVER = '203.0.113.53';
/** The lab's addresses are TEST-NET-3, which the exit refuses unless told (`ferry exit --allow-range`). */
const LAB_RANGE = '203.0.113.0/24';
const BROKER_PORT = 8787;
const EXIT_PORT = 8788;
/** How long the service, a volunteer or IPv6 address settling may take here (ms). */
const START_TIMEOUT_MS = 30_000;
/** How long the client's Proxy me may take to connect here (a browser start, the broker, ICE, the exit). */
const CLIENT_CONNECT_TIMEOUT_MS = 90_000;

/**
 * `namespace`'s network configuration as text: addresses, links, routes of every table, rules, nftables and the
 * resolver. Whole-device mode must leave it exactly as it found it, so tests compare two of these whole.
 */
export async function namespaceNetworkText(lab: NatLab, namespace: string): Promise<string> {
  const run = await lab.run(
    namespace,
    'sh',
    ['-c', 'ip -o addr show; echo; ip -o link show; echo; ip route show table all; echo; ip rule show; echo; nft list ruleset; echo; cat /etc/resolv.conf'],
    { timeoutMs: 10_000 },
  );
  if (run.code !== 0) throw new Error(`could not read ${namespace}'s network configuration: ${run.stderr}`);
  return run.stdout;
}

export interface WholeDeviceLabOptions {
  /** The sizes of the files the origin serves, one origin server each (in bytes). */
  originFiles: readonly number[];
  /** The volunteer's engine: node-datachannel (lighter, the default here) or its own headless Chromium. */
  volunteerEngine?: 'node-datachannel' | 'chromium';
}

/** The lab, its servers, one volunteer and the service, running; `close()` ends every process and namespace. */
export class WholeDeviceLab {
  /** The service's socket, the helper's `--tun-socket`. */
  readonly socketPath: string;
  #volunteer: ChildProcess | undefined;
  #service: ChildProcess | undefined;

  private constructor(
    readonly lab: NatLab,
    readonly client: NatLabHost,
    readonly volunteerHost: NatLabHost,
    readonly originHost: NatLabHost,
    /** A folder in the lab's temporary space (captures, downloads, the service's state). */
    readonly directory: string,
    readonly brokerUrl: string,
    readonly exit: ExitInfo,
    readonly exitListKey: string,
    /** One per `originFiles`, in order: where it listens and its file's SHA-256. */
    readonly origins: ReadonlyArray<{ port: number; sha256: string }>,
    private readonly volunteerEngine: 'node-datachannel' | 'chromium',
  ) {
    this.socketPath = join(directory, 'run', 'tun.sock');
  }

  static async start(options: WholeDeviceLabOptions): Promise<WholeDeviceLab> {
    const lab = await NatLab.start({ hosts: ['no-nat', 'no-nat', 'no-nat'] });
    try {
      const [client, volunteerHost, originHost] = lab.hosts as [NatLabHost, NatLabHost, NatLabHost];
      for (const host of lab.hosts) {
        const route = await lab.run(host.namespace, 'ip', ['route', 'add', 'default', 'via', lab.publicServiceAddress], { timeoutMs: 5_000 });
        if (route.code !== 0) throw new Error(`could not give ${host.namespace} a default route: ${route.stderr}`);
      }
      await lab.writeEtcFile(lab.publicNamespace, 'hosts', `127.0.0.1 localhost\n${originHost.address} ${WHOLE_DEVICE_ORIGIN_NAME}\n`);
      await lab.writeEtcFile(client.namespace, 'resolv.conf', `nameserver ${UNSERVED_RESOLVER}\n`);
      const origins: Array<{ port: number; sha256: string }> = [];
      for (const bytes of options.originFiles) origins.push(await startLabOrigin(lab, originHost.namespace, bytes, '0.0.0.0'));
      const operator = new LocalOperator();
      const servers = await startLabServers(lab, { operator, exitPort: EXIT_PORT, brokerPort: BROKER_PORT, exitFlags: ['--allow-range', LAB_RANGE] });
      const directory = await lab.tempDirectory();
      const stage = new WholeDeviceLab(
        lab,
        client,
        volunteerHost,
        originHost,
        directory,
        servers.brokerUrl,
        servers.exit,
        operator.exitListKey,
        origins,
        options.volunteerEngine ?? 'node-datachannel',
      );
      await stage.startVolunteer();
      await stage.#startService();
      return stage;
    } catch (error) {
      await lab.close();
      throw error;
    }
  }

  /** The volunteer running now, if any. */
  get volunteer(): ChildProcess | undefined {
    return this.#volunteer;
  }

  /** Starts a volunteer (after one was killed) and resolves once it waits at the broker. */
  async startVolunteer(): Promise<ChildProcess> {
    const child = this.lab.spawn(this.volunteerHost.namespace, process.execPath, [
      FERRY,
      'volunteer',
      '--engine',
      this.volunteerEngine,
      '--broker',
      this.brokerUrl,
      '--exit-list-key',
      this.exitListKey,
    ]);
    this.#volunteer = child;
    await waitForBrokerPools(
      this.lab,
      this.brokerUrl,
      /ferry_broker_volunteers\{kind="headless",nat="unknown"\} 1/,
      'the volunteer to wait at the broker',
      START_TIMEOUT_MS,
    );
    return child;
  }

  /** The privileged service in the client namespace, for root's helper; resolves once the namespace has settled. */
  async #startService(): Promise<void> {
    this.#service = this.lab.spawn(this.client.namespace, process.execPath, [
      FERRY,
      'helper',
      '--tun-service',
      '--allow-user',
      'root',
      '--socket',
      this.socketPath,
      '--state-dir',
      join(this.directory, 'state'),
    ]);
    const out = collectLines(this.#service.stdout);
    await waitFor(() => out.some((line) => line.includes('listening')) || undefined, 'the whole-device service to listen', { timeoutMs: START_TIMEOUT_MS });
    // A snapshot taken while IPv6 addresses are still "tentative" would differ from one taken later for no reason.
    await waitFor(async () => !(await this.snapshot()).includes('tentative') || undefined, 'IPv6 duplicate address detection to finish', {
      timeoutMs: START_TIMEOUT_MS,
    });
  }

  /**
   * The Proxy me client as a person runs it: Chromium with the built extension in the client namespace, its helper
   * pointed at this lab's service (`--tun-socket`), Proxy me switched on through the popup and connected (one path, so
   * the figures and captures have one volunteer). Whole-device mode is left to the caller's switch.
   */
  async launchClientBrowser(): Promise<FerryUser> {
    const user = await FerryUser.launch({
      brokerUrl: this.brokerUrl,
      exitListKey: this.exitListKey,
      headless: true,
      installHelper: true,
      helperFlags: ['--tun-socket', this.socketPath],
      namespace: this.client.namespace,
      settings: { proxyPaths: 1 },
    });
    try {
      await user.setSwitch('proxy-me', true);
      await user.waitForProxyMe(['connected'], CLIENT_CONNECT_TIMEOUT_MS);
      return user;
    } catch (error) {
      await closeUserAndHelper(user);
      throw error;
    }
  }

  /** The client namespace's network configuration as text (namespaceNetworkText). */
  snapshot(): Promise<string> {
    return namespaceNetworkText(this.lab, this.client.namespace);
  }

  /** A shell script in the client namespace. */
  shell(script: string, timeoutMs = 170_000): Promise<RunResult> {
    return this.lab.run(this.client.namespace, 'sh', ['-c', script], { timeoutMs });
  }

  /**
   * What left the client namespace's own interface (eth0) while `work` ran, from a dumpcap capture: the IPv4
   * destinations it sent to, and how many of its packets went to port 53.
   */
  async capturedWhile(work: () => Promise<void>): Promise<{ destinations: Set<string>; dns: number }> {
    const file = join(this.directory, `client-${Date.now()}.pcap`);
    const capture = await startCapture(this.lab, this.client.namespace, file);
    try {
      await work();
      // dumpcap writes what it holds every 100 ms; let the last packets land.
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      await terminate(capture, 5_000);
    }
    const packets = readPcap(file).filter((packet) => packet.source === this.client.address);
    return {
      destinations: new Set(packets.map((packet) => packet.destination)),
      dns: packets.filter((packet) => packet.destinationPort === 53).length,
    };
  }

  /** The URL of the origin's `index`th file, by name. */
  originUrl(index: number): string {
    const origin = this.origins[index];
    if (origin === undefined) throw new RangeError(`the lab has ${this.origins.length} origin files, not #${index}`);
    return `http://${WHOLE_DEVICE_ORIGIN_NAME}:${origin.port}/file`;
  }

  /** Ends the service (which restores the namespace), the volunteer, and then the whole lab. */
  async close(): Promise<void> {
    if (this.#service) await terminate(this.#service, 10_000);
    if (this.#volunteer) await terminate(this.#volunteer, 5_000);
    await this.lab.close();
  }
}
