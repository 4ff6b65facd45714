/**
 * @module tun/system-stack
 * Ends the device's TCP with the kernel's own TCP stack (the "system stack" design): a flow from an application,
 * A:a -> D:d, is rewritten inside the TUN to NAT:n -> DEVICE:L, where DEVICE:L is an ordinary listener of this
 * process and n a port this table gives the flow; the listener's replies, DEVICE:L -> NAT:n, are rewritten back to
 * D:d -> A:a. So the kernel does all of RFC 9293 (handshake, windows, retransmission, MSS, FIN and RST) against the
 * application, and this process only swaps addresses and ports and keeps the table from n back to D:d. Each accepted
 * connection is dialed through the tunnel to D:d and spliced to it. docs/design.md says why this design and not a TCP
 * endpoint of our own.
 *
 * UDP to port 53 goes to the DNS handler, when one is given (answered through the tunnel); other UDP and other
 * protocols are dropped and counted, never sent out around the tunnel. IPv6 is dropped (the service routes it here
 * so that it cannot leak).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { spliceStreams } from '../stream-splice.ts';
import type { DialTarget, TunnelDialer } from '../tunnel-dialer.ts';
import {
  buildUdpPacket,
  type FlowHeader,
  IP_PROTOCOL_TCP,
  ipv4ToNumber,
  numberToIpv4,
  packetKind,
  readFlowHeader,
  rewriteFlow,
  TCP_FLAG_ACK,
  TCP_FLAG_RST,
  TCP_FLAG_SYN,
  udpPayload,
} from './ip-packet.ts';

/** Where packets come from and go back to: a TUN device (tun-device.ts), or a test's stand-in. */
export interface PacketDevice {
  onPackets(onBatch: (packets: Buffer[]) => void, onError: (error: Error) => void): void;
  write(packet: Uint8Array): void;
}

/** Answers one DNS query (the UDP payload) through the tunnel; resolves with the answer's payload. */
export type DnsAnswerer = (query: Uint8Array) => Promise<Uint8Array>;

export interface SystemStackConfig {
  /** The TUN device's own address: the listener binds here, and applications' flows come from it. */
  deviceAddress: string;
  /** The address flows are rewritten to come from: another address of the device's subnet, used by nothing else. */
  natAddress: string;
  /** Most TCP flows in the table at once; the SYN of a flow beyond it is dropped and counted (the application retries). */
  maxFlows: number;
  /** A flow whose connection has closed stays this long (ms), so the last FIN and ACK still find their way. */
  closedFlowLingerMs: number;
  /** Longest wait for the tunnel to open a flow's destination (ms); then the application's connection is reset. */
  dialTimeoutMs: number;
  /** Most DNS queries being answered at once; more are dropped (the resolver asks again). */
  maxDnsInFlight: number;
}

export const DEFAULT_SYSTEM_STACK_CONFIG: Omit<SystemStackConfig, 'deviceAddress' | 'natAddress'> = {
  maxFlows: 4096,
  closedFlowLingerMs: 30_000,
  dialTimeoutMs: 15_000,
  maxDnsInFlight: 64,
};

/** What the stack did with packets it did not carry, by reason: what `ferry helper --tun` reports. */
export interface SystemStackCounters {
  flowsOpened: number;
  flowsRefusedFull: number;
  dialFailures: number;
  droppedIpv6: number;
  droppedUdp: number;
  droppedOther: number;
  droppedMalformed: number;
  droppedStray: number;
  dnsAnswered: number;
  dnsFailed: number;
}

interface Flow {
  /** The application's end and the destination it asked for (32-bit addresses). */
  source: number;
  sourcePort: number;
  destination: number;
  destinationPort: number;
  natPort: number;
  key: string;
  /** When its connection closed (ms since the epoch), then it is removed after closedFlowLingerMs. */
  closedAt: number | undefined;
}

const FIRST_NAT_PORT = 10_000;
const LAST_NAT_PORT = 65_535;

export class SystemStack {
  readonly counters: SystemStackCounters = {
    flowsOpened: 0,
    flowsRefusedFull: 0,
    dialFailures: 0,
    droppedIpv6: 0,
    droppedUdp: 0,
    droppedOther: 0,
    droppedMalformed: 0,
    droppedStray: 0,
    dnsAnswered: 0,
    dnsFailed: 0,
  };
  readonly #config: SystemStackConfig;
  readonly #device: PacketDevice;
  readonly #dialer: TunnelDialer;
  readonly #dns: DnsAnswerer | undefined;
  readonly #deviceAddress: number;
  readonly #natAddress: number;
  readonly #server: Server;
  readonly #flowsByKey = new Map<string, Flow>();
  readonly #flowsByNatPort = new Map<number, Flow>();
  readonly #sockets = new Set<Socket>();
  #listenerPort = 0;
  #nextNatPort = FIRST_NAT_PORT;
  #dnsInFlight = 0;
  #sweepTimer: ReturnType<typeof setInterval> | undefined;

  constructor(options: { config: SystemStackConfig; device: PacketDevice; dialer: TunnelDialer; dns?: DnsAnswerer }) {
    this.#config = options.config;
    this.#device = options.device;
    this.#dialer = options.dialer;
    this.#dns = options.dns;
    this.#deviceAddress = ipv4ToNumber(options.config.deviceAddress);
    this.#natAddress = ipv4ToNumber(options.config.natAddress);
    this.#server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => this.#accept(socket));
  }

  get flows(): number {
    return this.#flowsByNatPort.size;
  }

  /** Listens on the device's address and starts reading the device. */
  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ host: this.#config.deviceAddress, port: 0 }, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const address = this.#server.address();
    this.#listenerPort = typeof address === 'object' && address !== null ? address.port : 0;
    this.#device.onPackets(
      (packets) => {
        for (const packet of packets) this.#handle(packet);
      },
      () => void this.stop(),
    );
    this.#sweepTimer = setInterval(() => this.#sweep(), Math.max(1_000, this.#config.closedFlowLingerMs / 2));
    this.#sweepTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#sweepTimer);
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #handle(packet: Buffer): void {
    switch (packetKind(packet)) {
      case 'ipv4-tcp':
        this.#handleTcp(packet, readFlowHeader(packet));
        return;
      case 'ipv4-udp':
        this.#handleUdp(packet, readFlowHeader(packet));
        return;
      case 'ipv6':
        this.counters.droppedIpv6 += 1;
        return;
      case 'ipv4-other':
        this.counters.droppedOther += 1;
        return;
      case 'malformed':
        this.counters.droppedMalformed += 1;
        return;
    }
  }

  #handleTcp(packet: Buffer, header: FlowHeader): void {
    if (header.source === this.#deviceAddress && header.sourcePort === this.#listenerPort && header.destination === this.#natAddress) {
      // The listener's side of a flow: back to the application, as if from the destination.
      const flow = this.#flowsByNatPort.get(header.destinationPort);
      if (flow === undefined) {
        this.counters.droppedStray += 1;
        return;
      }
      rewriteFlow(packet, header, { source: flow.destination, destination: flow.source, sourcePort: flow.destinationPort, destinationPort: flow.sourcePort });
      this.#device.write(packet);
      return;
    }
    const key = `${header.source}:${header.sourcePort}>${header.destination}:${header.destinationPort}`;
    let flow = this.#flowsByKey.get(key);
    if (flow === undefined || (flow.closedAt !== undefined && isFreshSyn(header))) {
      if (!isFreshSyn(header)) {
        // A segment of a flow we do not hold (from before a restart, or long closed): the kernel's answer would be a
        // reset anyway; dropping it lets the application's own timers end it.
        this.counters.droppedStray += 1;
        return;
      }
      if (flow !== undefined) this.#forget(flow);
      flow = this.#open(header, key);
      if (flow === undefined) {
        this.counters.flowsRefusedFull += 1;
        return;
      }
    }
    rewriteFlow(packet, header, { source: this.#natAddress, destination: this.#deviceAddress, sourcePort: flow.natPort, destinationPort: this.#listenerPort });
    this.#device.write(packet);
  }

  #open(header: FlowHeader, key: string): Flow | undefined {
    if (this.#flowsByNatPort.size >= this.#config.maxFlows) return undefined;
    const span = LAST_NAT_PORT - FIRST_NAT_PORT + 1;
    for (let tries = 0; tries < span; tries++) {
      const natPort = this.#nextNatPort;
      this.#nextNatPort = natPort === LAST_NAT_PORT ? FIRST_NAT_PORT : natPort + 1;
      if (this.#flowsByNatPort.has(natPort)) continue;
      const flow: Flow = {
        source: header.source,
        sourcePort: header.sourcePort,
        destination: header.destination,
        destinationPort: header.destinationPort,
        natPort,
        key,
        closedAt: undefined,
      };
      this.#flowsByKey.set(key, flow);
      this.#flowsByNatPort.set(natPort, flow);
      this.counters.flowsOpened += 1;
      return flow;
    }
    return undefined;
  }

  #forget(flow: Flow): void {
    if (this.#flowsByKey.get(flow.key) === flow) this.#flowsByKey.delete(flow.key);
    if (this.#flowsByNatPort.get(flow.natPort) === flow) this.#flowsByNatPort.delete(flow.natPort);
  }

  /** Removes flows closed longer than closedFlowLingerMs ago. */
  #sweep(now = Date.now()): void {
    for (const flow of this.#flowsByNatPort.values()) {
      if (flow.closedAt !== undefined && now - flow.closedAt > this.#config.closedFlowLingerMs) this.#forget(flow);
    }
  }

  /** A connection the kernel accepted for a flow: dial its destination through the tunnel and splice the two. */
  #accept(socket: Socket): void {
    const flow = socket.remoteAddress === this.#config.natAddress ? this.#flowsByNatPort.get(socket.remotePort ?? 0) : undefined;
    if (flow === undefined) {
      // Not one of ours (something on this machine connected to the listener itself): refused.
      socket.resetAndDestroy();
      return;
    }
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      flow.closedAt = Date.now();
    });
    socket.on('error', () => {});
    const target: DialTarget = { host: numberToIpv4(flow.destination), port: flow.destinationPort };
    const abort = new AbortController();
    const timer = setTimeout(
      () => abort.abort(new Error(`the tunnel did not open ${target.host}:${target.port} within ${this.#config.dialTimeoutMs} ms`)),
      this.#config.dialTimeoutMs,
    );
    socket.once('close', () => abort.abort(new Error('the application closed the connection')));
    // The socket stays paused while dialing: what the application sends waits in the kernel's buffer, bounded by
    // TCP's own window, and nothing is read before there is somewhere to send it.
    this.#dialer.dial(target, abort.signal).then(
      (tunnel) => {
        clearTimeout(timer);
        if (socket.destroyed) {
          tunnel.destroy();
          return;
        }
        spliceStreams(socket, tunnel, () => {});
        socket.resume();
      },
      () => {
        clearTimeout(timer);
        this.counters.dialFailures += 1;
        // As the destination refusing: the application sees a reset, at once.
        if (!socket.destroyed) socket.resetAndDestroy();
      },
    );
  }

  #handleUdp(packet: Buffer, header: FlowHeader): void {
    const dns = this.#dns;
    if (header.destinationPort !== 53 || dns === undefined) {
      this.counters.droppedUdp += 1;
      return;
    }
    if (this.#dnsInFlight >= this.#config.maxDnsInFlight) {
      this.counters.dnsFailed += 1;
      return;
    }
    this.#dnsInFlight += 1;
    const query = Uint8Array.from(udpPayload(packet, header));
    const { source, sourcePort, destination, destinationPort } = header;
    dns(query).then(
      (answer) => {
        this.#dnsInFlight -= 1;
        this.counters.dnsAnswered += 1;
        this.#device.write(buildUdpPacket(destination, destinationPort, source, sourcePort, answer));
      },
      () => {
        this.#dnsInFlight -= 1;
        this.counters.dnsFailed += 1;
      },
    );
  }
}

/** A SYN without ACK or RST: the first segment of a new connection. */
function isFreshSyn(header: FlowHeader): boolean {
  return header.protocol === IP_PROTOCOL_TCP && (header.tcpFlags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST)) === TCP_FLAG_SYN;
}
