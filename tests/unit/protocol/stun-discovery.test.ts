// protocol/adapters/nat-discovery.ts without namespaces: the RFC 5780 logic against a simulated NAT and STUN server
// (every mapping × filtering behaviour, including the address-restricted NAT the namespace lab does not build), the
// errors a user meets (no OTHER-ADDRESS, a server that ignores CHANGE-REQUEST, silence, DNS, timeouts), and the real
// node:dgram path against small servers on 127.0.0.1. The real NATs are in tests/integration/nat-discovery.test.ts.

import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, test } from 'node:test';
import {
  classifyNat,
  discoverNatClass,
  discoverNatClassFromUrls,
  type NatDiscoveryEnvironment,
  NatDiscoveryError,
  type NatDiscoveryErrorCode,
  type NatFiltering,
  type NatMapping,
  parseStunUrl,
  type StunSocket,
  stunUrlsOf,
  transactionMs,
} from '../../../protocol/adapters/nat-discovery.ts';
import { concatBytes, viewOf } from '../../../protocol/bytes.ts';
import { STUN_MAGIC_COOKIE, StunAttribute, StunMessageType } from '../../../protocol/stun-message.ts';

/** Fast timing for the simulated network: one silent transaction lasts 7 × 5 ms. */
const FAST = { initialRtoMs: 5, maxTransmissions: 3, timeoutMs: 2_000 } as const;

// ---- a STUN response encoder (the server side, which the product does not need) ----

function attribute(type: number, value: Uint8Array): Uint8Array {
  const padded = new Uint8Array(4 + value.length + ((4 - (value.length % 4)) % 4));
  viewOf(padded).setUint16(0, type);
  viewOf(padded).setUint16(2, value.length);
  padded.set(value, 4);
  return padded;
}

function ipv4(address: string, port: number, xor = false): Uint8Array {
  const value = new Uint8Array(8);
  value[1] = 0x01;
  viewOf(value).setUint16(2, xor ? port ^ (STUN_MAGIC_COOKIE >>> 16) : port);
  const cookie = [0x21, 0x12, 0xa4, 0x42];
  address.split('.').forEach((octet, i) => {
    value[4 + i] = xor ? Number(octet) ^ cookie[i]! : Number(octet);
  });
  return value;
}

function response(transactionId: Uint8Array, attributes: Uint8Array[], type: number = StunMessageType.BINDING_SUCCESS): Uint8Array {
  const body = concatBytes(...attributes);
  const header = new Uint8Array(20);
  viewOf(header).setUint16(0, type);
  viewOf(header).setUint16(2, body.length);
  viewOf(header).setUint32(4, STUN_MAGIC_COOKIE);
  header.set(transactionId, 8);
  return concatBytes(header, body);
}

/** The request's transaction id and CHANGE-REQUEST flags (our own encoder's layout: CHANGE-REQUEST is the only attribute). */
function readRequest(bytes: Uint8Array): { transactionId: Uint8Array; changeIp: boolean; changePort: boolean } {
  const flags = bytes.length >= 28 && viewOf(bytes).getUint16(20) === StunAttribute.CHANGE_REQUEST ? viewOf(bytes).getUint32(24) : 0;
  return { transactionId: bytes.slice(8, 20), changeIp: (flags & 0x04) !== 0, changePort: (flags & 0x02) !== 0 };
}

// ---- a simulated NAT between one client and one RFC 5780 server ----

const PRIVATE_IP = '10.0.0.2';
const PUBLIC_IP = '198.51.100.1';
const PRIMARY = { address: '203.0.113.1', port: 3478 };
const OTHER = { address: '203.0.113.2', port: 3479 };

interface ServerQuirks {
  noOtherAddress?: boolean;
  /** Answers CHANGE-REQUESTs from the primary address (a plain RFC 5389 server). */
  ignoreChangeRequest?: boolean;
  /** Nothing answers at the other IP address. */
  alternateSilent?: boolean;
  /** Nothing answers at all. */
  silent?: boolean;
  /** CHANGE-REQUEST gets 420 Unknown Attribute. */
  refuseChangeRequest?: boolean;
}

class SimulatedNetwork {
  readonly sockets = new Set<number>();
  #nextLocalPort = 50_000;
  #nextPublicPort = 40_000;
  readonly #mappings = new Map<string, number>();
  /** Public port -> the destinations its local socket sent to (what address(-and-port)-dependent filtering admits). */
  readonly #sentTo = new Map<number, { address: string; port: number }[]>();
  readonly #owner = new Map<number, (bytes: Uint8Array, from: { address: string; port: number }) => void>();

  constructor(
    readonly mapping: NatMapping,
    readonly filtering: NatFiltering,
    readonly quirks: ServerQuirks = {},
  ) {}

  environment(): Partial<NatDiscoveryEnvironment> {
    return {
      resolve: async (host) => {
        if (host === 'stun.test') return { address: PRIMARY.address, family: 4 };
        throw new Error(`getaddrinfo ENOTFOUND ${host}`);
      },
      localAddresses: () => ['127.0.0.1', PRIVATE_IP],
      openSocket: async () => this.#open(),
    };
  }

  #open(): StunSocket {
    const localPort = this.#nextLocalPort++;
    this.sockets.add(localPort);
    let listener: ((bytes: Uint8Array, from: { address: string; port: number }) => void) | undefined;
    return {
      local: { address: '0.0.0.0', port: localPort },
      send: async (bytes, address, port) => {
        const publicPort = this.#map(localPort, address, port);
        this.#owner.set(publicPort, (data, from) => listener?.(data, from));
        setImmediate(() => this.#serve(bytes, { address, port }, publicPort));
      },
      onMessage: (callback) => {
        listener = callback;
      },
      onError: () => {},
      close: () => this.sockets.delete(localPort),
    };
  }

  #map(localPort: number, address: string, port: number): number {
    if (this.mapping === 'no-nat') return localPort;
    const key =
      this.mapping === 'endpoint-independent'
        ? `${localPort}`
        : this.mapping === 'address-dependent'
          ? `${localPort}|${address}`
          : `${localPort}|${address}:${port}`;
    let publicPort = this.#mappings.get(key);
    if (publicPort === undefined) {
      publicPort = this.#nextPublicPort++;
      this.#mappings.set(key, publicPort);
    }
    const sent = this.#sentTo.get(publicPort) ?? [];
    sent.push({ address, port });
    this.#sentTo.set(publicPort, sent);
    return publicPort;
  }

  #serve(bytes: Uint8Array, to: { address: string; port: number }, publicPort: number): void {
    const quirks = this.quirks;
    if (quirks.silent || (quirks.alternateSilent && to.address === OTHER.address)) return;
    const request = readRequest(bytes);
    const change = request.changeIp || request.changePort;
    const toOtherIp = to.address === OTHER.address;
    const toOtherPort = to.port === OTHER.port;
    // A refusal comes from where the request went, as does every answer of a server that ignores CHANGE-REQUEST.
    const from =
      quirks.ignoreChangeRequest || (change && quirks.refuseChangeRequest)
        ? to
        : {
            address: toOtherIp !== request.changeIp ? OTHER.address : PRIMARY.address,
            port: toOtherPort !== request.changePort ? OTHER.port : PRIMARY.port,
          };
    const mapped = this.mapping === 'no-nat' ? { address: PRIVATE_IP, port: publicPort } : { address: PUBLIC_IP, port: publicPort };
    const reply =
      change && quirks.refuseChangeRequest
        ? response(request.transactionId, [attribute(StunAttribute.ERROR_CODE, Uint8Array.of(0, 0, 4, 20))], StunMessageType.BINDING_ERROR)
        : response(request.transactionId, [
            attribute(StunAttribute.XOR_MAPPED_ADDRESS, ipv4(mapped.address, mapped.port, true)),
            attribute(StunAttribute.RESPONSE_ORIGIN, ipv4(from.address, from.port)),
            ...(quirks.noOtherAddress ? [] : [attribute(StunAttribute.OTHER_ADDRESS, ipv4(OTHER.address, OTHER.port))]),
          ]);
    // Inbound, through the NAT's filter.
    const sent = this.#sentTo.get(publicPort) ?? [];
    const admitted =
      this.mapping === 'no-nat' ||
      this.filtering === 'endpoint-independent' ||
      (this.filtering === 'address-dependent' && sent.some((dest) => dest.address === from.address)) ||
      sent.some((dest) => dest.address === from.address && dest.port === from.port);
    if (admitted) setImmediate(() => this.#owner.get(publicPort)?.(reply, from));
  }
}

async function rejectsWith(promise: Promise<unknown>, code: NatDiscoveryErrorCode, message?: RegExp): Promise<NatDiscoveryError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof NatDiscoveryError, `expected NatDiscoveryError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}

// ---- the classes ----

test('classifyNat: any mapping that depends on the destination is symmetric; otherwise filtering decides', () => {
  for (const mapping of ['no-nat', 'endpoint-independent'] as const) {
    assert.equal(classifyNat(mapping, 'endpoint-independent'), 'full-cone');
    assert.equal(classifyNat(mapping, 'address-dependent'), 'address-restricted');
    assert.equal(classifyNat(mapping, 'address-and-port-dependent'), 'port-restricted');
  }
  for (const filtering of ['endpoint-independent', 'address-dependent', 'address-and-port-dependent'] as const) {
    assert.equal(classifyNat('address-dependent', filtering), 'symmetric');
    assert.equal(classifyNat('address-and-port-dependent', filtering), 'symmetric');
  }
});

const mappings: NatMapping[] = ['endpoint-independent', 'address-dependent', 'address-and-port-dependent'];
const filterings: NatFiltering[] = ['endpoint-independent', 'address-dependent', 'address-and-port-dependent'];
for (const mapping of mappings) {
  for (const filtering of filterings) {
    test(`a simulated NAT with ${mapping} mapping and ${filtering} filtering is measured as exactly that`, async () => {
      const network = new SimulatedNetwork(mapping, filtering);
      const result = await discoverNatClass({ server: { host: 'stun.test', port: PRIMARY.port }, environment: network.environment(), ...FAST });
      assert.equal(result.mapping, mapping);
      assert.equal(result.filtering, filtering);
      assert.equal(result.natClass, classifyNat(mapping, filtering));
      assert.match(result.mappedAddress, /^198\.51\.100\.1:4\d{4}$/);
      assert.equal(result.server, '203.0.113.1:3478');
      assert.equal(result.otherAddress, '203.0.113.2:3479');
      assert.equal(network.sockets.size, 0, 'every socket is closed');
      // No test waits longer than one silent transaction, as the filtering tests run alongside the mapping tests.
      assert.ok(result.durationMs < 3 * transactionMs(FAST.initialRtoMs, FAST.maxTransmissions) + 500, `took ${result.durationMs} ms`);
    });
  }
}

test('a mapped address that is one of our own (port included) is no NAT: full cone when nothing filters', async () => {
  const network = new SimulatedNetwork('no-nat', 'endpoint-independent');
  const result = await discoverNatClass({ server: { host: 'stun.test', port: PRIMARY.port }, environment: network.environment(), ...FAST });
  assert.equal(result.mapping, 'no-nat');
  assert.equal(result.natClass, 'full-cone');
});

// ---- what a user meets ----

test('a server without OTHER-ADDRESS, one that ignores CHANGE-REQUEST or refuses it, and a silent alternate address each fail with their own code', async () => {
  const server = { host: 'stun.test', port: PRIMARY.port };
  const run = (quirks: ServerQuirks) => {
    const network = new SimulatedNetwork('endpoint-independent', 'address-and-port-dependent', quirks);
    return discoverNatClass({ server, environment: network.environment(), ...FAST }).finally(() => assert.equal(network.sockets.size, 0, 'sockets closed'));
  };
  await rejectsWith(run({ noOtherAddress: true }), 'NAT_NO_OTHER_ADDRESS', /two IP addresses/);
  await rejectsWith(run({ ignoreChangeRequest: true }), 'NAT_CHANGE_REQUEST_IGNORED', /does not support RFC 5780/);
  await rejectsWith(run({ refuseChangeRequest: true }), 'NAT_SERVER_ERROR', /420/);
  await rejectsWith(run({ alternateSilent: true }), 'NAT_ALTERNATE_UNREACHABLE', /203\.0\.113\.2:3478/);
  await rejectsWith(run({ silent: true }), 'NAT_SERVER_UNREACHABLE', /did not answer.*UDP/);
});

test('a name that does not resolve, a resolver that hangs past the bound, an abort and bad options fail typed', async () => {
  const network = new SimulatedNetwork('endpoint-independent', 'endpoint-independent');
  await rejectsWith(
    discoverNatClass({ server: { host: 'nowhere.test', port: 3478 }, environment: network.environment(), ...FAST }),
    'NAT_SERVER_NOT_FOUND',
    /nowhere\.test/,
  );
  const hanging = { ...network.environment(), resolve: () => new Promise<never>(() => {}) };
  const started = Date.now();
  await rejectsWith(discoverNatClass({ server: { host: 'stun.test', port: 3478 }, environment: hanging, ...FAST, timeoutMs: 300 }), 'NAT_TIMEOUT', /300 ms/);
  assert.ok(Date.now() - started < 1_500, 'the bound holds');
  const controller = new AbortController();
  const aborted = discoverNatClass({ server: { host: 'stun.test', port: 3478 }, environment: hanging, ...FAST, signal: controller.signal });
  controller.abort();
  await rejectsWith(aborted, 'NAT_ABORTED');
  await rejectsWith(discoverNatClass({ server: { host: 'stun.test', port: 3478 }, initialRtoMs: 500, timeoutMs: 3_000 }), 'NAT_BAD_OPTIONS', /3500 ms/);
  await rejectsWith(discoverNatClass({ server: { host: 'stun.test', port: 3478 }, maxTransmissions: 0 }), 'NAT_BAD_OPTIONS');
  await rejectsWith(discoverNatClass({ server: { host: 'stun.test', port: 0 } }), 'NAT_BAD_OPTIONS');
});

test('stun: URLs parse as RFC 7064 says; the first one that answers with OTHER-ADDRESS is used', async () => {
  assert.deepEqual(parseStunUrl('stun:stun.example.org'), { host: 'stun.example.org', port: 3478 });
  assert.deepEqual(parseStunUrl('stun:203.0.113.1:3479'), { host: '203.0.113.1', port: 3479 });
  assert.deepEqual(parseStunUrl('stun:[2001:db8::1]:5349'), { host: '2001:db8::1', port: 5349 });
  for (const bad of ['stuns:x.org', 'turn:x.org', 'stun:', 'stun:x.org:0', 'stun:x.org:70000', 'stun://x.org', 'stun:x.org?transport=udp']) {
    assert.throws(
      () => parseStunUrl(bad),
      (error: unknown) => error instanceof NatDiscoveryError && error.code === 'NAT_BAD_SERVER_URL',
      bad,
    );
  }
  assert.deepEqual(stunUrlsOf([{ urls: 'stun:a.org' }, { urls: ['turn:b.org', 'stun:c.org:1'] }, { urls: 'stuns:d.org' }]), ['stun:a.org', 'stun:c.org:1']);

  const network = new SimulatedNetwork('endpoint-independent', 'address-and-port-dependent');
  const result = await discoverNatClassFromUrls(['turn:ignored.test', 'stun:nowhere.test', 'stun:stun.test:3478'], {
    environment: network.environment(),
    ...FAST,
  });
  assert.equal(result.url, 'stun:stun.test:3478');
  assert.equal(result.natClass, 'port-restricted');
  const failed = await rejectsWith(
    discoverNatClassFromUrls(['stun:nowhere.test', 'stun:also-nowhere.test'], { environment: network.environment(), ...FAST }),
    'NAT_SERVER_NOT_FOUND',
  );
  assert.match(failed.message, /stun:nowhere\.test: .*; stun:also-nowhere\.test: /, 'every failure is named');
  await rejectsWith(discoverNatClassFromUrls(['turn:x.org'], { environment: network.environment(), ...FAST }), 'NAT_BAD_SERVER_URL');
});

// ---- the real node:dgram path, on 127.0.0.1 ----

const servers: Socket[] = [];
after(() => {
  for (const server of servers) server.close();
});

/** A UDP server on 127.0.0.1 that answers each datagram with what `answer` returns (nothing for undefined). */
async function udpServer(answer: (request: Uint8Array) => Uint8Array | undefined): Promise<number> {
  const server = createSocket('udp4');
  servers.push(server);
  server.on('message', (bytes, rinfo) => {
    const reply = answer(new Uint8Array(bytes));
    if (reply) server.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
  return server.address().port;
}

test('over real UDP on 127.0.0.1: silence, junk, a malformed answer and a plain RFC 5389 answer each give a clear error in bounded time', async () => {
  const options = { localAddress: '127.0.0.1', initialRtoMs: 20, maxTransmissions: 3, timeoutMs: 2_000 };
  let requests = 0;
  const silent = await udpServer(() => {
    requests += 1;
    return undefined;
  });
  const started = Date.now();
  await rejectsWith(discoverNatClass({ server: { host: '127.0.0.1', port: silent }, ...options }), 'NAT_SERVER_UNREACHABLE', /did not answer/);
  assert.equal(requests, 3, 'sent three times (RFC 5389 retransmission)');
  assert.ok(Date.now() - started < 1_000, `gave up after 7 RTOs, not later (${Date.now() - started} ms)`);

  const junk = await udpServer(() => new TextEncoder().encode('hello there, not STUN'));
  await rejectsWith(discoverNatClass({ server: { host: '127.0.0.1', port: junk }, ...options }), 'NAT_SERVER_UNREACHABLE', /21 bytes .* not STUN/);

  const malformed = await udpServer((request) => {
    const reply = response(readRequest(request).transactionId, [attribute(StunAttribute.XOR_MAPPED_ADDRESS, Uint8Array.of(0, 9, 0, 0))]);
    return reply;
  });
  await rejectsWith(discoverNatClass({ server: { host: '127.0.0.1', port: malformed }, ...options }), 'NAT_BAD_RESPONSE', /malformed answer: .*family 9/);

  const plain = await udpServer((request) =>
    response(readRequest(request).transactionId, [attribute(StunAttribute.XOR_MAPPED_ADDRESS, ipv4('127.0.0.1', 1234, true))]),
  );
  await rejectsWith(discoverNatClass({ server: { host: 'localhost', port: plain }, ...options }), 'NAT_NO_OTHER_ADDRESS', /sent no OTHER-ADDRESS/);
});
