/**
 * @module native-helper/helper-core
 * The helper's moving parts, wired together: the pipe server the extension connects to, the tunnel client that runs
 * the session over it, the local SOCKS5 / HTTP CONNECT proxies that dial through the tunnel, and the relay that
 * carries the extension's sealed rendezvous requests over channels a browser cannot use itself. The native host
 * (stdio) and the integration tests both start the helper through this one function.
 */
import type { ExitInfo } from '../protocol/signaling.ts';
import { startLocalProxies } from './local-proxies.ts';
import { PipeServer } from './pipe-server.ts';
import { nodeRendezvousCarrier } from './rendezvous-carrier.ts';
import { RendezvousRelay } from './rendezvous-relay.ts';
import { WholeDeviceSwitch, type WholeDeviceSwitchOptions } from './tun/whole-device-switch.ts';
import { TunnelClient, type TunnelClientConfig, type TunnelStatus } from './tunnel-client.ts';

export interface HelperCoreOptions {
  exit: ExitInfo;
  /** The only Origin the pipe accepts, e.g. chrome-extension://<id>. */
  allowedOrigin: string;
  socksPort: number;
  httpPort: number;
  tunnel?: Partial<TunnelClientConfig>;
  /** PEM certificates the rendezvous carrier trusts besides Node's roots (a test network's, a private CDN's). */
  rendezvousCaPem?: string | undefined;
  /** Whole-device mode's service socket and, for tests, how the mode starts. */
  wholeDevice?: Pick<WholeDeviceSwitchOptions, 'servicePath' | 'startMode' | 'resolve' | 'platform' | 'askService'>;
  log?(line: string): void;
}

export interface HelperCore {
  socksPort: number;
  httpPort: number;
  pipeUrl: string;
  tunnel: TunnelClient;
  wholeDevice: WholeDeviceSwitch;
  /** A fresh one-time token for the pipe (cancels any unused earlier one). */
  issueToken(): string;
  /** Sends the session status to the extension over the pipe, if one is connected. */
  reportToPipe(status: TunnelStatus): void;
  close(): Promise<void>;
}

export async function startHelperCore(options: HelperCoreOptions): Promise<HelperCore> {
  const log = options.log ?? (() => {});
  // The tunnel first: it checks its config and the exit's key, and a bad one must not leave a server listening.
  const tunnel = new TunnelClient(options.exit, options.tunnel);
  const pipeServer = await PipeServer.start({ allowedOrigin: options.allowedOrigin, onWarning: (warning) => log(`pipe: ${warning.message}`) });
  let proxies: Awaited<ReturnType<typeof startLocalProxies>>;
  try {
    proxies = await startLocalProxies({ dialer: tunnel, socksPort: options.socksPort, httpPort: options.httpPort });
  } catch (error) {
    await pipeServer.close();
    throw error;
  }
  const rendezvous = new RendezvousRelay(nodeRendezvousCarrier({ trustedCaPem: options.rendezvousCaPem }));
  const wholeDevice = new WholeDeviceSwitch({
    ...options.wholeDevice,
    dialer: tunnel,
    peers: tunnel.peerAddresses,
    report: (state) => pipeServer.currentPipe?.sendControl(state),
    log,
  });
  pipeServer.onPipeOpen((pipe) => {
    log('the extension connected its pipe');
    tunnel.attachPipe(pipe);
    // Whether the "Whole device" switch can work here, said before anyone flips it.
    void wholeDevice.check();
    // Rendezvous requests carried for this pipe end with it: their answers would have nowhere to go.
    const pipeOpen = new AbortController();
    pipe.onRecord((record) => tunnel.handleRecord(record));
    pipe.onControl((control) => {
      if (control.type === 'rendezvous') rendezvous.handle(control, (answer) => pipe.sendControl(answer), pipeOpen.signal);
      else if (control.type === 'whole-device') void wholeDevice.set(control.on, control.transportHosts);
      else tunnel.handleControl(control);
    });
    pipe.onClose((info) => {
      pipeOpen.abort();
      log(`the pipe closed (${info.code}${info.reason ? `: ${info.reason}` : ''})`);
      // A pipe replaced by a newer one must not take the newer one's session down with it.
      if (pipeServer.currentPipe === null || pipeServer.currentPipe === pipe) tunnel.detachPipe();
    });
  });
  return {
    socksPort: proxies.socksPort,
    httpPort: proxies.httpPort,
    pipeUrl: pipeServer.url,
    tunnel,
    wholeDevice,
    issueToken: () => pipeServer.issueToken(),
    reportToPipe: (status) => {
      const { lastPathError: _private, ...report } = status;
      pipeServer.currentPipe?.sendControl({ type: 'session', ...report });
    },
    close: async () => {
      // The machine back as it was first (the service undoes the routes), while the tunnel can still say goodbye.
      await wholeDevice.close();
      tunnel.close();
      await Promise.allSettled([proxies.close(), pipeServer.close()]);
    },
  };
}
