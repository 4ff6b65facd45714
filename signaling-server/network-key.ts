/**
 * @module network-key
 * The network a peer connects from, as the broker compares it: a client is never matched to a volunteer on its own
 * network. A volunteer there is no help (it sits behind the same censor, or it is the client itself making its own
 * volunteer look busy), and a censor running both ends learns nothing new from matching itself.
 *
 * A network is the address's /24 for IPv4 and its /48 for IPv6 (a site's usual prefix); an IPv4-mapped IPv6 address
 * counts as IPv4. The key is that prefix as text: it stays in the broker's memory (or its Redis) and is never logged.
 */
import { isIP } from 'node:net';

/** Leading bits of an IPv4 address that name its network. */
export const IPV4_NETWORK_PREFIX_BITS = 24;
/** Leading bits of an IPv6 address that name its network. */
export const IPV6_NETWORK_PREFIX_BITS = 48;

export interface NetworkKeyOptions {
  /**
   * Loopback peers (127.0.0.0/8, ::1) get no key, so the same-network rule never applies to them: on one machine
   * (the demo, the tests) every peer is on loopback, and on a real broker nobody is.
   */
  exemptLoopback: boolean;
}

/** The network key of `address`, or undefined when the address is exempt or not an IP address. */
export function networkKeyOf(address: string, options: NetworkKeyOptions): string | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const bare = mapped?.[1] ?? address;
  const family = isIP(bare);
  if (family === 4) {
    const octets = bare.split('.');
    if (options.exemptLoopback && octets[0] === '127') return undefined;
    return `${octets.slice(0, IPV4_NETWORK_PREFIX_BITS / 8).join('.')}.0/${IPV4_NETWORK_PREFIX_BITS}`;
  }
  if (family === 6) {
    const groups = expandIpv6(bare);
    if (options.exemptLoopback && groups.every((group, index) => group === (index === 7 ? 1 : 0))) return undefined;
    const prefix = groups.slice(0, IPV6_NETWORK_PREFIX_BITS / 16).map((group) => group.toString(16));
    return `${prefix.join(':')}::/${IPV6_NETWORK_PREFIX_BITS}`;
  }
  return undefined;
}

/** The eight 16-bit groups of a valid IPv6 address (isIP checked it); a trailing dotted IPv4 part is folded in. */
function expandIpv6(address: string): number[] {
  let text = address.split('%')[0] ?? address;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : Array.from({ length: 8 - headGroups.length - tailGroups.length }, () => '0');
  return [...headGroups, ...zeros, ...tailGroups].map((group) => Number.parseInt(group, 16));
}
