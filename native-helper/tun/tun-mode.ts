/**
 * @module tun/tun-mode
 * Whole-device mode in the helper: asks the privileged service to bring the device up (with the tunnel's own
 * transport as the bypass: the broker, STUN servers, fronts, and the volunteers the paths use), attaches to the
 * device, and runs the system stack on it with the tunnel as its dialer and the exit's resolver for DNS. The
 * volunteers' addresses follow the paths (peer-addresses.ts): each change becomes one `bypass` request, in order.
 * Stopping takes the stack down first, then asks the service to undo everything.
 */

import type { TunnelDialer } from '../tunnel-dialer.ts';
import type { PeerAddresses } from './peer-addresses.ts';
import { DEFAULT_SYSTEM_STACK_CONFIG, SystemStack, type SystemStackCounters } from './system-stack.ts';
import { TunDevice } from './tun-device.ts';
import { askTunService } from './tun-service-client.ts';
import type { TunServiceReply, TunServiceRequest, TunState } from './tun-service-protocol.ts';
import { tunnelDnsAnswerer } from './tunnel-dns.ts';

/** The service refused or failed a request; the message is its answer. */
export class TunModeError extends Error {
  override readonly name = 'TunModeError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface TunModeOptions {
  /** The privileged service's socket. */
  servicePath: string;
  dialer: TunnelDialer;
  /** The tunnel's own transport that is not a volunteer: broker, STUN, fronts (IPv4 addresses). */
  transportAddresses: readonly string[];
  /** The volunteers the paths use, as the extension reports them. */
  peers: PeerAddresses;
  log?(line: string): void;
}

export class TunMode {
  readonly #options: TunModeOptions;
  readonly #device: TunDevice;
  readonly #stack: SystemStack;
  readonly #state: TunState;
  #bypassedPeers = new Set<string>();
  #requests: Promise<unknown> = Promise.resolve();
  #unsubscribe: (() => void) | undefined;
  #stopped = false;

  private constructor(options: TunModeOptions, state: TunState, device: TunDevice, stack: SystemStack) {
    this.#options = options;
    this.#state = state;
    this.#device = device;
    this.#stack = stack;
  }

  /** Brings the device up and starts carrying it. Throws TunModeError (or TunUnavailableError, TunServiceUnavailableError) saying why not. */
  static async start(options: TunModeOptions): Promise<TunMode> {
    const peers = options.peers.current;
    const state = expectState(await askTunService(options.servicePath, { op: 'up', bypass: [...new Set([...options.transportAddresses, ...peers])] }));
    let device: TunDevice | undefined;
    try {
      device = TunDevice.attach(state.device);
      const stack = new SystemStack({
        config: { ...DEFAULT_SYSTEM_STACK_CONFIG, deviceAddress: state.deviceAddress, natAddress: state.natAddress },
        device,
        dialer: options.dialer,
        dns: tunnelDnsAnswerer(options.dialer),
      });
      await stack.start();
      const mode = new TunMode(options, state, device, stack);
      mode.#bypassedPeers = new Set(peers);
      mode.#unsubscribe = options.peers.onChange((addresses) => mode.#followPeers(addresses));
      // A change between the `up` and the subscription is caught up now.
      mode.#followPeers(options.peers.current);
      options.log?.(`whole-device mode on: ${state.device} ${state.deviceAddress}, bypassing ${state.bypass.length} addresses`);
      return mode;
    } catch (error) {
      device?.close();
      await askTunService(options.servicePath, { op: 'down' }).catch(() => undefined);
      throw error;
    }
  }

  get counters(): SystemStackCounters {
    return this.#stack.counters;
  }

  get state(): TunState {
    return this.#state;
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#unsubscribe?.();
    await this.#stack.stop();
    this.#device.close();
    await this.#requests.catch(() => undefined);
    expectState(await askTunService(this.#options.servicePath, { op: 'down' }));
    this.#options.log?.('whole-device mode off: the service restored the routes, rules, kill switch and DNS');
  }

  /** One `bypass` request for the difference, queued behind any earlier one. */
  #followPeers(addresses: readonly string[]): void {
    if (this.#stopped) return;
    const wanted = new Set(addresses);
    const add = [...wanted].filter((address) => !this.#bypassedPeers.has(address) && !this.#options.transportAddresses.includes(address));
    const remove = [...this.#bypassedPeers].filter((address) => !wanted.has(address) && !this.#options.transportAddresses.includes(address));
    if (add.length === 0 && remove.length === 0) return;
    this.#bypassedPeers = wanted;
    const request: TunServiceRequest = { op: 'bypass', add, remove };
    this.#requests = this.#requests
      .then(() => askTunService(this.#options.servicePath, request))
      .then(expectState)
      .catch((error: unknown) => this.#options.log?.(`could not change the bypass (${add.join(' ')} / ${remove.join(' ')}): ${String(error)}`));
  }
}

function expectState(reply: TunServiceReply): TunState {
  if (!reply.ok) throw new TunModeError(reply.code, `the whole-device service refused: ${reply.message}`);
  return reply.state;
}
