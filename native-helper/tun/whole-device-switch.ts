/**
 * @module tun/whole-device-switch
 * The helper's end of the extension's "Whole device" switch: turns whole-device mode (tun-mode.ts) on and off as the
 * pipe asks, one change at a time, and reports where it stands (`whole-device-state`), with a reason a person can
 * act on when it cannot be on: not Linux, the service not installed, the device or the addon missing. When the pipe
 * opens it asks the service, so the popup can say whether the switch can work before anyone flips it. The tunnel's
 * own hosts the extension names are resolved here, before the device takes the routes, and kept out of it.
 */
import { lookup } from 'node:dns/promises';
import type { PipeWholeDeviceState, WholeDeviceState } from '../../protocol/local-channel.ts';
import { isIpv4Literal } from '../../protocol/validate.ts';
import type { TunnelDialer } from '../tunnel-dialer.ts';
import type { PeerAddresses } from './peer-addresses.ts';
import { TunMode, type TunModeOptions } from './tun-mode.ts';
import { DEFAULT_TUN_SERVICE_SOCKET } from './tun-service.ts';
import { askTunService, TunServiceUnavailableError } from './tun-service-client.ts';

/** Resolves a host to its IPv4 addresses (an IPv4 literal to itself). */
export type ResolveIpv4 = (host: string) => Promise<string[]>;

/** What the popup says on a system whole-device mode does not support yet. */
export const NOT_LINUX_REASON = 'whole-device mode works on Linux only for now';
/**
 * What it says when the routes and the kill switch are in force with no mode of this helper's: most often a helper
 * that stopped left them, but another browser profile's helper of the same user may hold them, so it names both.
 */
export const LEFT_ON_REASON =
  "whole-device mode is already in force (left on by a Ferry helper that stopped, or held by another one), so the device's traffic is held back: switch it on to carry it here, or off to restore the device";
/** How long the availability check waits for the service (ms): a service that takes longer is as good as missing. */
const CHECK_TIMEOUT_MS = 5_000;

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
  /** How the service is asked (for `status` and the leftover `down`); tests give their own. */
  askService?: typeof askTunService;
  platform?: NodeJS.Platform;
  log?(line: string): void;
}

export class WholeDeviceSwitch {
  readonly #options: WholeDeviceSwitchOptions;
  #mode: Pick<TunMode, 'stop'> | undefined;
  #state: WholeDeviceState = 'off';
  /** The service reported the mode in force with no mode of this helper's: a predecessor's, to take over or end. */
  #leftOn = false;
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

  /**
   * Asks the service whether the mode can be used, and reports it: 'unavailable' with the reason, 'failed' when a
   * helper that stopped left it on, else where the mode stands. Runs in order with the changes.
   */
  check(): Promise<void> {
    this.#changes = this.#changes.then(() => this.#check());
    return this.#changes;
  }

  /** Turns the mode off (the helper is stopping): the service restores the machine. */
  close(): Promise<void> {
    return this.set(false, []);
  }

  async #check(): Promise<void> {
    if (this.#reportedWithoutService()) return;
    try {
      const reply = await this.#askService({ op: 'status' }, CHECK_TIMEOUT_MS);
      if (!reply.ok) this.#report('unavailable', reply.message);
      else if (reply.state.up) {
        this.#leftOn = true;
        this.#report('failed', LEFT_ON_REASON);
      } else this.#report('off');
    } catch (error) {
      this.#report('unavailable', error instanceof Error ? error.message : String(error));
    }
  }

  /** Reports what needs no word from the service (this helper's mode is on; not Linux); true when it did. */
  #reportedWithoutService(): boolean {
    if (this.#mode !== undefined) this.#report('on');
    else if ((this.#options.platform ?? process.platform) !== 'linux') this.#report('unavailable', NOT_LINUX_REASON);
    else return false;
    return true;
  }

  #askService(request: Parameters<typeof askTunService>[1], timeoutMs?: number): ReturnType<typeof askTunService> {
    return (this.#options.askService ?? askTunService)(this.#options.servicePath ?? DEFAULT_TUN_SERVICE_SOCKET, request, timeoutMs);
  }

  async #turnOn(transportHosts: readonly string[]): Promise<void> {
    if (this.#reportedWithoutService()) return;
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
      this.#leftOn = false;
      this.#report('on');
    } catch (error) {
      this.#report(error instanceof TunServiceUnavailableError ? 'unavailable' : 'failed', error instanceof Error ? error.message : String(error));
    }
  }

  async #turnOff(): Promise<void> {
    const mode = this.#mode;
    this.#mode = undefined;
    const leftOn = this.#leftOn;
    this.#leftOn = false;
    if (mode !== undefined || leftOn) {
      try {
        if (mode !== undefined) await mode.stop();
        else await this.#endLeftover();
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

  /** Ends a predecessor's mode: the service restores the device. */
  async #endLeftover(): Promise<void> {
    const reply = await this.#askService({ op: 'down' });
    if (!reply.ok && reply.code !== 'NOT_UP') throw new Error(reply.message);
  }

  #report(state: WholeDeviceState, reason?: string): void {
    this.#state = state;
    this.#options.report(reason === undefined ? { type: 'whole-device-state', state } : { type: 'whole-device-state', state, reason });
  }
}
