/**
 * @module proxy-bypass
 * What must reach the network directly while "Proxy me" points the browser at the helper:
 * - the broker: it is how a new volunteer is found when the tunnel is down, so sending it through the tunnel would
 *   deadlock exactly when it is needed (the rendezvous is the one thing that must work outside the tunnel, as a VPN's
 *   own server address is);
 * - the helper's pipe on 127.0.0.1: it carries the tunnel itself.
 * Both are pinned by host *and* port, so a bypass entry never opens anything else, even when the user's list says
 * `<-loopback>`. Everything else goes through the tunnel or fails (kill switch).
 */

function defaultPort(protocol: string): string {
  return protocol === 'https:' || protocol === 'wss:' ? '443' : '80';
}

/** `host:port` of a URL, in Chromium's bypass-rule syntax (IPv6 hosts keep their brackets). */
export function bypassEntryFor(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || defaultPort(parsed.protocol)}`;
}

/** The user's bypass list plus the broker and the pipe, without duplicates. */
export function proxyBypassList(userEntries: readonly string[], brokerUrl: string, pipeUrl: string): string[] {
  return [...new Set([...userEntries, bypassEntryFor(brokerUrl), bypassEntryFor(pipeUrl)])];
}
