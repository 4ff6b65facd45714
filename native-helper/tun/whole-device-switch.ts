/**
 * @module tun/whole-device-switch
 * The helper's end of the extension's "Whole device" switch: turns whole-device mode (tun-mode.ts) on and off as the
 * pipe asks, one change at a time, and reports where it stands (`whole-device-state`), with a reason a person can
 * act on when it cannot be on: not Linux, the service not installed, the device or the addon missing. The tunnel's
 * own hosts the extension names are resolved here, before the device takes the routes, and kept out of it.
 */
import { lookup } from 'node:dns/promises';
import type { PipeWholeDeviceState, WholeDeviceState } from '../../protocol/local-channel.ts';
import { isIpv4Literal } from '../../protocol/validate.ts';
import type { TunnelDialer } from '../tunnel-dialer.ts';
import type { PeerAddresses } from './peer-addresses.ts';
import { TunMode, type TunModeOptions } from './tun-mode.ts';
import { DEFAULT_TUN_SERVICE_SOCKET } from './tun-service.ts';

/** Resolves a host to its IPv4 addresses (an IPv4 literal to itself). */
export type ResolveIpv4 = (host: string) => Promise<string[]>;

export const systemResolveIpv4: ResolveIpv4 = async (host) =>
  isIpv4Literal(host) ? [host] : (await lookup(host, { all: true, family: 4 })).map((entry) => entry.address);

export interface WholeDeviceSwitchOptions {
  dialer: TunnelDialer;
  peers: PeerAddresses;
  report(state: PipeWholeDeviceState): void;
  /** The privileged service's socket (DEFAULT_TUN_SERVICE_SOCKET). */
  servicePath?: string;
  /** How the mode starts; tests give their own. */
  startMode?: (options: TunModeOptions) => Promise<Pick<TunMode, 'stop'>>;
  resolve?: ResolveIpv4;
  platform?: NodeJS.Platform;
  log?(line: string): void;
}

export class WholeDeviceSwitch {
  readonly #options: WholeDeviceSwitchOptions;
  #mode: Pick<TunMode, 'stop'> | undefined;
  #state: WholeDeviceState = 'off';
  #changes: Promise<void> = Promise.resolve();

  constructor(options: WholeDeviceSwitchOptions) {
    this.#options = options;
  }

  get state(): WholeDeviceState {
    return this.#state;
  }

  /** Turns the mode on or off; changes run in order, and each ends in a report. */
  set(on: boolean, transportHosts: readonly string[]): Promise<void> {
    this.#changes = this.#changes.then(() => (on ? this.#turnOn(transportHosts) : this.#turnOff()));
    return this.#changes;
  }

  /** Turns the mode off (the helper is stopping): the service restores the machine. */
  close(): Promise<void> {
    return this.set(false, []);
  }

  async #turnOn(transportHosts: readonly string[]): Promise<void> {
    if (this.#mode !== undefined) {
      this.#report('on');
      return;
    }
    if ((this.#options.platform ?? process.platform) !== 'linux') {
      this.#report('failed', 'whole-device mode works on Linux only for now');
      return;
    }
    this.#report('starting');
    try {
      const resolve = this.#options.resolve ?? systemResolveIpv4;
      const addresses = (await Promise.all(transportHosts.map((host) => resolve(host)))).flat();
      const start = this.#options.startMode ?? ((options) => TunMode.start(options));
      this.#mode = await start({
        servicePath: this.#options.servicePath ?? DEFAULT_TUN_SERVICE_SOCKET,
        dialer: this.#options.dialer,
        transportAddresses: [...new Set(addresses)],
        peers: this.#options.peers,
        ...(this.#options.log === undefined ? {} : { log: this.#options.log }),
      });
      this.#report('on');
    } catch (error) {
      this.#report('failed', error instanceof Error ? error.message : String(error));
    }
  }

  async #turnOff(): Promise<void> {
    const mode = this.#mode;
    this.#mode = undefined;
    if (mode !== undefined) {
      try {
        await mode.stop();
      } catch (error) {
        this.#report(
          'failed',
          `turning whole-device mode off failed: ${error instanceof Error ? error.message : String(error)}; run "ferry helper --tun-cleanup" as root`,
        );
        return;
      }
    }
    if (this.#state !== 'off') this.#report('off');
  }

  #report(state: WholeDeviceState, reason?: string): void {
    this.#state = state;
    this.#options.report(reason === undefined ? { type: 'whole-device-state', state } : { type: 'whole-device-state', state, reason });
  }
}
