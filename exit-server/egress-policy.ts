/**
 * @module exit-server/egress-policy
 * Which destination addresses an exit may connect to. Checked on the resolved address, right before connecting to
 * exactly that address, so DNS rebinding cannot sneak a private address past the check.
 */
import { BlockList, isIP } from 'node:net';

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
}

function buildList(ranges: readonly Range[]): Array<{ list: BlockList; label: string }> {
  return ranges.map((range) => {
    const list = new BlockList();
    list.addSubnet(range.network, range.prefix, range.family);
    return { list, label: range.label };
  });
}

export class EgressPolicy {
  private readonly refused: Array<{ list: BlockList; label: string }>;
  private readonly blockedPorts: ReadonlySet<number>;

  constructor(options: EgressPolicyOptions) {
    this.refused = buildList(options.allowLoopback ? REFUSED_RANGES : [...REFUSED_RANGES, ...LOOPBACK_RANGES]);
    this.blockedPorts = new Set(options.blockedPorts);
  }

  checkPort(port: number): EgressDecision {
    return this.blockedPorts.has(port) ? { allowed: false, reason: `port ${port} is blocked by this exit's policy` } : { allowed: true };
  }

  /** Checks one resolved IP address (an IPv4-mapped IPv6 address is checked as the IPv4 address it carries). */
  checkAddress(address: string): EgressDecision {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    const ip = mapped?.[1] ?? address;
    const family = isIP(ip);
    if (family === 0) return { allowed: false, reason: `"${address}" is not an IP address` };
    const type = family === 4 ? 'ipv4' : 'ipv6';
    for (const { list, label } of this.refused) {
      if (list.check(ip, type)) return { allowed: false, reason: `${address} is ${label}, which this exit does not connect to` };
    }
    return { allowed: true };
  }
}
