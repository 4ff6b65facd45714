/**
 * @module exit-server/egress-policy
 * Which destination addresses an exit may connect to. Checked on the resolved address, right before connecting to
 * exactly that address, so DNS rebinding cannot sneak a private address past the check. An IPv6 address that
 * carries an IPv4 address (mapped, translated, compatible, NAT64, 6to4) is judged by the IPv4 address it carries too:
 * behind NAT64 or a 6to4 relay it reaches exactly that IPv4 address.
 */
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { InvalidConfigError } from '../protocol/errors.ts';

interface Range {
  network: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
  label: string;
}

/** Never reachable through an exit: the exit's own network, cloud metadata, and addresses with no public meaning. */
const REFUSED_RANGES: readonly Range[] = [
  { network: '0.0.0.0', prefix: 8, family: 'ipv4', label: '"this network" (0.0.0.0/8)' },
  { network: '10.0.0.0', prefix: 8, family: 'ipv4', label: 'a private address (10.0.0.0/8)' },
  { network: '100.64.0.0', prefix: 10, family: 'ipv4', label: 'a carrier-grade NAT address (100.64.0.0/10)' },
  { network: '169.254.0.0', prefix: 16, family: 'ipv4', label: 'a link-local or cloud metadata address (169.254.0.0/16)' },
  { network: '172.16.0.0', prefix: 12, family: 'ipv4', label: 'a private address (172.16.0.0/12)' },
  { network: '192.0.0.0', prefix: 24, family: 'ipv4', label: 'an IETF protocol address (192.0.0.0/24)' },
  { network: '192.0.2.0', prefix: 24, family: 'ipv4', label: 'a documentation address (192.0.2.0/24)' },
  { network: '192.88.99.0', prefix: 24, family: 'ipv4', label: 'a 6to4 relay anycast address (192.88.99.0/24)' },
  { network: '192.168.0.0', prefix: 16, family: 'ipv4', label: 'a private address (192.168.0.0/16)' },
  { network: '198.18.0.0', prefix: 15, family: 'ipv4', label: 'a benchmarking address (198.18.0.0/15)' },
  { network: '198.51.100.0', prefix: 24, family: 'ipv4', label: 'a documentation address (198.51.100.0/24)' },
  { network: '203.0.113.0', prefix: 24, family: 'ipv4', label: 'a documentation address (203.0.113.0/24)' },
  { network: '224.0.0.0', prefix: 4, family: 'ipv4', label: 'a multicast address (224.0.0.0/4)' },
  { network: '240.0.0.0', prefix: 4, family: 'ipv4', label: 'a reserved or broadcast address (240.0.0.0/4)' },
  { network: '::', prefix: 128, family: 'ipv6', label: 'the unspecified address (::)' },
  { network: '64:ff9b:1::', prefix: 48, family: 'ipv6', label: 'a local-use NAT64 address (64:ff9b:1::/48)' },
  { network: '100::', prefix: 64, family: 'ipv6', label: 'a discard-only address (100::/64)' },
  { network: '2001:db8::', prefix: 32, family: 'ipv6', label: 'a documentation address (2001:db8::/32)' },
  { network: 'fc00::', prefix: 7, family: 'ipv6', label: 'a unique-local (private) address (fc00::/7)' },
  { network: 'fe80::', prefix: 10, family: 'ipv6', label: 'a link-local address (fe80::/10)' },
  { network: 'fec0::', prefix: 10, family: 'ipv6', label: 'a site-local address (fec0::/10)' },
  { network: 'ff00::', prefix: 8, family: 'ipv6', label: 'a multicast address (ff00::/8)' },
];

const LOOPBACK_RANGES: readonly Range[] = [
  { network: '127.0.0.0', prefix: 8, family: 'ipv4', label: 'a loopback address (127.0.0.0/8)' },
  { network: '::1', prefix: 128, family: 'ipv6', label: 'the loopback address (::1)' },
];

export type EgressDecision = { allowed: true } | { allowed: false; reason: string };

export interface EgressPolicyOptions {
  allowLoopback: boolean;
  blockedPorts: readonly number[];
  /** Operator's own refusals, as CIDR ranges ("203.0.113.0/24", "2001:db8::/32"); checked like the built-in ones. */
  deniedRanges?: readonly string[];
  /** Ranges exempt from the built-in refusals (a lab or a private network the exit serves); deniedRanges still apply. */
  allowedRanges?: readonly string[];
  /**
   * The exit's own addresses, refused as destinations (a service on 0.0.0.0 that only a firewall keeps from the
   * outside is reachable from the exit itself). Default: every address of this machine's interfaces.
   */
  ownAddresses?: readonly string[];
}

/** Parses "address/prefix" into a Range, or throws InvalidConfigError naming it. */
export function parseRange(cidr: string): Range {
  const slash = cidr.lastIndexOf('/');
  const network = slash > 0 ? cidr.slice(0, slash) : '';
  const prefixText = cidr.slice(slash + 1);
  const family = isIP(network);
  const prefix = Number(prefixText);
  if (family === 0 || !/^\d{1,3}$/.test(prefixText) || prefix > (family === 4 ? 32 : 128)) {
    throw new InvalidConfigError(`denied range "${cidr}" is not of the form ADDRESS/PREFIX (e.g. 203.0.113.0/24 or 2001:db8::/32)`);
  }
  return { network, prefix, family: family === 4 ? 'ipv4' : 'ipv6', label: `denied by this exit's operator (${cidr})` };
}

function buildList(ranges: readonly Range[]): Array<{ list: BlockList; label: string }> {
  return ranges.map((range) => {
    const list = new BlockList();
    list.addSubnet(range.network, range.prefix, range.family);
    return { list, label: range.label };
  });
}

/** The eight 16-bit groups of an IPv6 address (zone id dropped), or undefined when it is not one. */
export function ipv6Groups(address: string): number[] | undefined {
  const text = address.replace(/%.*$/, '');
  if (isIP(text) !== 6) return undefined;
  let body = text;
  // A trailing dotted quad stands for the last two groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(body);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    body = `${body.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = body.split('::');
  const part = (side: string): number[] => (side === '' ? [] : side.split(':').map((group) => Number.parseInt(group, 16)));
  const front = part(head);
  const back = tail === undefined ? [] : part(tail);
  const zeros = tail === undefined ? 0 : 8 - front.length - back.length;
  const groups = [...front, ...new Array<number>(zeros).fill(0), ...back];
  return groups.length === 8 ? groups : undefined;
}

/** The IPv4 address an IPv6 address carries, and the form it uses; undefined when it carries none. */
export function embeddedIpv4(address: string): { ipv4: string; form: string } | undefined {
  const g = ipv6Groups(address);
  if (g === undefined) return undefined;
  const v4 = (high: number, low: number): string => `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  const zero = (from: number, to: number): boolean => g.slice(from, to).every((group) => group === 0);
  if (zero(0, 5) && g[5] === 0xffff) return { ipv4: v4(g[6] ?? 0, g[7] ?? 0), form: 'IPv4-mapped (::ffff:0:0/96)' };
  if (zero(0, 4) && g[4] === 0xffff && g[5] === 0) return { ipv4: v4(g[6] ?? 0, g[7] ?? 0), form: 'IPv4-translated (::ffff:0:0:0/96)' };
  if (g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6)) return { ipv4: v4(g[6] ?? 0, g[7] ?? 0), form: 'NAT64 (64:ff9b::/96)' };
  if (g[0] === 0x2002) return { ipv4: v4(g[1] ?? 0, g[2] ?? 0), form: '6to4 (2002::/16)' };
  // IPv4-compatible (::a.b.c.d, deprecated); :: and ::1 are not (they are judged as themselves).
  if (zero(0, 6) && ((g[6] ?? 0) !== 0 || (g[7] ?? 0) > 1)) return { ipv4: v4(g[6] ?? 0, g[7] ?? 0), form: 'IPv4-compatible (::/96)' };
  return undefined;
}

/** Every address of this machine's network interfaces. */
function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((entries) => (entries ?? []).map((entry) => entry.address));
}

export class EgressPolicy {
  /** The built-in refusals, then the operator's: what a destination outside every allowed range is checked against. */
  private readonly refused: Array<{ list: BlockList; label: string }>;
  /** The operator's refusals alone: they hold inside an allowed range too. */
  private readonly deniedByOperator: Array<{ list: BlockList; label: string }>;
  private readonly exempt: Array<{ list: BlockList; label: string }>;
  private readonly blockedPorts: ReadonlySet<number>;
  private readonly ownAddresses: ReadonlySet<string>;

  constructor(options: EgressPolicyOptions) {
    const denied = (options.deniedRanges ?? []).map(parseRange);
    const builtIn = options.allowLoopback ? REFUSED_RANGES : [...REFUSED_RANGES, ...LOOPBACK_RANGES];
    this.deniedByOperator = buildList(denied);
    this.refused = [...buildList(builtIn), ...this.deniedByOperator];
    this.exempt = buildList((options.allowedRanges ?? []).map(parseRange));
    this.blockedPorts = new Set(options.blockedPorts);
    const loopback = buildList(LOOPBACK_RANGES);
    const isLoopback = (address: string): boolean => loopback.some(({ list }) => list.check(address, isIP(address) === 4 ? 'ipv4' : 'ipv6'));
    // With loopback allowed (tests, the local demo) the exit's loopback addresses stay reachable; no other own address.
    this.ownAddresses = new Set(
      (options.ownAddresses ?? interfaceAddresses())
        .map((address) => address.replace(/%.*$/, '').toLowerCase())
        .filter((address) => isIP(address) !== 0 && !(options.allowLoopback && isLoopback(address))),
    );
  }

  checkPort(port: number): EgressDecision {
    return this.blockedPorts.has(port) ? { allowed: false, reason: `port ${port} is blocked by this exit's policy` } : { allowed: true };
  }

  /** Checks one resolved IP address, and the IPv4 address it carries if it is an IPv6 address that embeds one. */
  checkAddress(address: string): EgressDecision {
    const ip = address.replace(/%.*$/, '');
    const family = isIP(ip);
    if (family === 0) return { allowed: false, reason: `"${address}" is not an IP address` };
    const own = this.checkOne(ip, family, address);
    if (!own.allowed) return own;
    const embedded = family === 6 ? embeddedIpv4(ip) : undefined;
    if (embedded === undefined) return { allowed: true };
    const carried = this.checkOne(embedded.ipv4, 4, embedded.ipv4);
    if (carried.allowed) return carried;
    return { allowed: false, reason: `${address} is ${embedded.form} for ${embedded.ipv4}: ${carried.reason}` };
  }

  private checkOne(ip: string, family: number, shown: string): EgressDecision {
    const type = family === 4 ? 'ipv4' : 'ipv6';
    const exempt = this.exempt.some(({ list }) => list.check(ip, type));
    for (const { list, label } of exempt ? this.deniedByOperator : this.refused) {
      if (list.check(ip, type)) return { allowed: false, reason: `${shown} is ${label}, which this exit does not connect to` };
    }
    if (this.ownAddresses.has(ip.toLowerCase()))
      return { allowed: false, reason: `${shown} is one of this exit's own addresses, which it does not connect to` };
    return { allowed: true };
  }
}
