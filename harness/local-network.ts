/**
 * @module harness/local-network
 * A whole Ferry network on this machine, for `ferry demo`, the end-to-end tests and the benchmarks: broker and exit
 * (harness/servers.ts), volunteer browsers with "Help others" on, and a client browser with "Proxy me" on, whose
 * helper the browser itself starts through native messaging. Every switch is flipped through the extension's popup,
 * as a person would (harness/ferry-user.ts).
 */
import { FerryUser, type HelperSessionTiming } from './ferry-user.ts';
import type { NetworkServers } from './servers.ts';

export interface LocalNetworkOptions {
  servers: NetworkServers;
  volunteers: number;
  headless: boolean;
  /** The client's bypass list; tests whose origin is on loopback need ['<-loopback>']. */
  clientBypassList?: string[];
  clientSocksPort?: number;
  /** The client session's heartbeat and path-silence timing; the product's defaults when absent. */
  clientSession?: HelperSessionTiming;
  /** More flags for the client's helper (its launcher), e.g. --rendezvous-ca FILE. */
  clientHelperFlags?: string[];
  /** More of the client's settings (chrome.storage.local, extension/settings.ts), e.g. { proxyPaths: 1 }. */
  clientSettings?: Record<string, unknown>;
  /** Every volunteer's settings, the ones addVolunteer() starts too, e.g. { maxMbps: 40 }. */
  volunteerSettings?: Record<string, unknown>;
  /** Whether the client switches Proxy me on and waits until connected. Default true. */
  connectClient?: boolean;
  log?(line: string): void;
}

/** How long carryingVolunteer() watches the volunteers' byte counts grow (ms): over one of their status reports (1 s apart) at least. */
const CARRIER_SAMPLE_MS = 1_200;

/** Volunteers and a client around running servers. */

export class LocalNetwork {
  private constructor(
    readonly servers: NetworkServers,
    readonly volunteers: FerryUser[],
    readonly client: FerryUser,
    private readonly headless: boolean,
    private readonly volunteerSettings: Record<string, unknown> | undefined,
  ) {}

  static async start(options: LocalNetworkOptions): Promise<LocalNetwork> {
    const log = options.log ?? (() => {});
    const volunteers: FerryUser[] = [];
    try {
      // One at a time: this machine has two cores, and each start is a Chromium process.
      for (let index = 0; index < options.volunteers; index++) {
        const volunteer = await FerryUser.launch({
          brokerUrl: options.servers.brokerUrl,
          exitListKey: options.servers.exitListKey,
          headless: options.headless,
          ...(options.volunteerSettings ? { settings: options.volunteerSettings } : {}),
        });
        volunteers.push(volunteer);
        await volunteer.setSwitch('help-others', true);
        await volunteer.waitForHelpOthers(['waiting']);
        log(`volunteer ${index + 1}: Chromium pid ${volunteer.pid}, Help others on, waiting for someone who needs help`);
      }
      const client = await FerryUser.launch({
        brokerUrl: options.servers.brokerUrl,
        exitListKey: options.servers.exitListKey,
        headless: options.headless,
        installHelper: true,
        ...(options.clientSession ? { helperSession: options.clientSession } : {}),
        ...(options.clientHelperFlags ? { helperFlags: options.clientHelperFlags } : {}),
        settings: {
          ...(options.clientBypassList ? { bypassList: options.clientBypassList } : {}),
          ...(options.clientSocksPort !== undefined ? { socksPort: options.clientSocksPort } : {}),
          ...options.clientSettings,
        },
      });
      const network = new LocalNetwork(options.servers, volunteers, client, options.headless, options.volunteerSettings);
      if (options.connectClient ?? true) {
        try {
          await client.setSwitch('proxy-me', true);
          await client.waitForProxyMe(['connected']);
        } catch (error) {
          log(`client browser output:\n${client.browser.recentOutput.slice(-4000)}`);
          await client.close();
          throw error;
        }
      }
      return network;
    } catch (error) {
      await Promise.all(volunteers.map((volunteer) => volunteer.close()));
      throw error;
    }
  }

  /** Starts one more volunteer browser with Help others on, waiting for someone who needs help. */
  async addVolunteer(): Promise<FerryUser> {
    const volunteer = await FerryUser.launch({
      brokerUrl: this.servers.brokerUrl,
      exitListKey: this.servers.exitListKey,
      headless: this.headless,
      ...(this.volunteerSettings ? { settings: this.volunteerSettings } : {}),
    });
    this.volunteers.push(volunteer);
    await volunteer.setSwitch('help-others', true);
    await volunteer.waitForHelpOthers(['waiting', 'relaying']);
    return volunteer;
  }

  /** The volunteer relaying for someone now, if any (polls each volunteer's own state). */
  /** A volunteer holding a client now (with a standby, the first of the two); undefined when none does. */
  async volunteerWithClient(): Promise<FerryUser | undefined> {
    for (const volunteer of this.volunteers) {
      const state = await volunteer.state().catch(() => undefined);
      if (state && state.helpOthers.clientsNow > 0) return volunteer;
    }
    return undefined;
  }

  /** The volunteer whose relayed bytes grow most: the one carrying the client's traffic now. */
  async carryingVolunteer(): Promise<FerryUser | undefined> {
    // With a standby, two volunteers each hold the client: the carrying one is the one whose bytes grow.
    const relayed = async (): Promise<Array<number | undefined>> =>
      Promise.all(
        this.volunteers.map(async (volunteer) => {
          const state = await volunteer.state().catch(() => undefined);
          return state && state.helpOthers.clientsNow > 0 ? state.helpOthers.bytesExitToClient : undefined;
        }),
      );
    const before = await relayed();
    await new Promise((resolve) => setTimeout(resolve, CARRIER_SAMPLE_MS));
    const after = await relayed();
    let carrier: FerryUser | undefined;
    let most = 0;
    this.volunteers.forEach((volunteer, index) => {
      const grown = (after[index] ?? 0) - (before[index] ?? after[index] ?? 0);
      if (after[index] !== undefined && grown > most) {
        most = grown;
        carrier = volunteer;
      }
    });
    return carrier;
  }

  /** Kills a volunteer's browser at once (SIGKILL, by pid), as a crash or a closed laptop would, and forgets it. */
  async killVolunteer(volunteer: FerryUser): Promise<void> {
    volunteer.browser.kill();
    this.volunteers.splice(this.volunteers.indexOf(volunteer), 1);
    await volunteer.close();
  }

  /** The helper's SOCKS5 port, once Proxy me has started it. */
  async socksPort(): Promise<number> {
    return (await this.client.state()).proxyMe.socksPort;
  }

  async helperPid(): Promise<number> {
    return (await this.client.state()).proxyMe.helperPid;
  }

  /** Closes every browser (which ends the helper too) and, last, kills a helper that outlived its browser. */
  async stop(): Promise<void> {
    const helperPid = await this.helperPid().catch(() => 0);
    await Promise.all([this.client.close(), ...this.volunteers.map((volunteer) => volunteer.close())]);
    if (helperPid > 0) {
      try {
        process.kill(helperPid, 'SIGTERM');
      } catch {
        // already gone, as it should be
      }
    }
  }
}
