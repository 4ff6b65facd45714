/**
 * @module native-helper/local-proxies
 * The one call that starts both local proxies on 127.0.0.1, SOCKS5 and HTTP CONNECT, around a TunnelDialer (the
 * tunnel session, wired by helper-core.ts).
 */
import type { HttpConnectLimits, Socks5ServerLimits } from './config.ts';
import { requireListenPort } from './config.ts';
import { HttpConnectServer } from './http-connect-server.ts';
import type { ProxyNotice } from './socks5-server.ts';
import { Socks5Server } from './socks5-server.ts';
import type { TunnelDialer } from './tunnel-dialer.ts';

export interface LocalProxiesOptions {
  dialer: TunnelDialer;
  /** 0 = any free port. */
  socksPort: number;
  httpPort: number;
  socksLimits?: Partial<Socks5ServerLimits>;
  httpLimits?: Partial<HttpConnectLimits>;
  onNotice?: (notice: ProxyNotice) => void;
}

export interface LocalProxies {
  socksPort: number;
  httpPort: number;
  close(): Promise<void>;
}

/** Starts the SOCKS5 and HTTP CONNECT proxies on 127.0.0.1; if either cannot listen, neither stays open. */
export async function startLocalProxies(options: LocalProxiesOptions): Promise<LocalProxies> {
  requireListenPort('socksPort', options.socksPort);
  requireListenPort('httpPort', options.httpPort);
  const common = { dialer: options.dialer, ...(options.onNotice ? { onNotice: options.onNotice } : {}) };
  const socks = await Socks5Server.start({ ...common, port: options.socksPort, ...(options.socksLimits ? { limits: options.socksLimits } : {}) });
  let http: HttpConnectServer;
  try {
    http = await HttpConnectServer.start({ ...common, port: options.httpPort, ...(options.httpLimits ? { limits: options.httpLimits } : {}) });
  } catch (error) {
    await socks.close();
    throw error;
  }
  return {
    socksPort: socks.port,
    httpPort: http.port,
    close: async () => {
      await Promise.all([socks.close(), http.close()]);
    },
  };
}
