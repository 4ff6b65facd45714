import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { SocksClient } from 'socks';
import { waitFor, withTimeout } from '../../../harness/wait.ts';
import type { ProxyNotice } from '../../../native-helper/socks5-server.ts';
import { Socks5Server } from '../../../native-helper/socks5-server.ts';
import type { TunnelDialer } from '../../../native-helper/tunnel-dialer.ts';
import { DirectTestDialer, HangingTestDialer } from './direct-test-dialer.ts';
import type { OriginServer } from './loopback-fixtures.ts';
import { RawClient, startEchoOrigin, startOrigin, unusedPort } from './loopback-fixtures.ts';

const GREETING_NO_AUTH = Uint8Array.of(0x05, 0x01, 0x00);
const SUCCESS_REPLY = Buffer.from([0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0]);

function connectRequestIpv4(port: number, command = 0x01): Uint8Array {
  return Uint8Array.of(0x05, command, 0x00, 0x01, 127, 0, 0, 1, port >> 8, port & 0xff);
}

function connectRequestDomain(host: string, port: number): Uint8Array {
  const name = Buffer.from(host, 'latin1');
  return Uint8Array.of(0x05, 0x01, 0x00, 0x03, name.length, ...name, port >> 8, port & 0xff);
}

/** Sends an HTTP GET over an established stream and returns the whole response text. */
async function httpGetOver(socket: Socket, path: string): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<void>((resolve, reject) => {
    socket.once('end', resolve);
    socket.once('error', reject);
  });
  socket.write(`GET ${path} HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n`);
  await withTimeout(ended, 'the origin response', 5_000);
  socket.destroy();
  return Buffer.concat(chunks).toString('utf8');
}

async function startSocks(dialer: TunnelDialer, limits = {}, notices: ProxyNotice[] = []): Promise<Socks5Server> {
  return Socks5Server.start({ dialer, limits, onNotice: (notice) => notices.push(notice) });
}

/** Greets, sends `request`, and returns the 10-byte reply. */
async function requestReply(port: number, request: Uint8Array): Promise<{ client: RawClient; reply: Buffer }> {
  const client = await RawClient.connect(port);
  client.write(GREETING_NO_AUTH);
  assert.deepEqual([...(await client.read(2))], [0x05, 0x00]);
  client.write(request);
  return { client, reply: await client.read(10) };
}

describe('Socks5Server with the socks client and curl', () => {
  let origin: OriginServer;
  let origin6: OriginServer;
  const dialer = new DirectTestDialer();
  let socks: Socks5Server;

  before(async () => {
    origin = await startOrigin('127.0.0.1');
    origin6 = await startOrigin('::1');
    socks = await startSocks(dialer);
  });
  after(async () => {
    await socks.close();
    await origin.close();
    await origin6.close();
  });

  const proxy = (): { host: string; port: number; type: 5 } => ({ host: '127.0.0.1', port: socks.port, type: 5 });

  test('CONNECT to an IPv4 address reaches the origin', async () => {
    const { socket } = await SocksClient.createConnection({
      proxy: proxy(),
      command: 'connect',
      destination: { host: '127.0.0.1', port: origin.port },
      timeout: 5_000,
    });
    assert.match(await httpGetOver(socket, '/v4'), /origin says hello to \/v4$/);
  });

  test('CONNECT to an IPv6 address (::1) reaches the origin', async () => {
    const { socket } = await SocksClient.createConnection({
      proxy: proxy(),
      command: 'connect',
      destination: { host: '::1', port: origin6.port },
      timeout: 5_000,
    });
    assert.match(await httpGetOver(socket, '/v6'), /origin says hello to \/v6$/);
    assert.equal(dialer.targets.at(-1)?.host, '::1');
  });

  test('CONNECT to a domain name passes the name to the dialer unresolved', async () => {
    const { socket } = await SocksClient.createConnection({
      proxy: proxy(),
      command: 'connect',
      destination: { host: 'localhost', port: origin.port },
      timeout: 5_000,
    });
    assert.match(await httpGetOver(socket, '/name'), /origin says hello to \/name$/);
    assert.deepEqual(dialer.targets.at(-1), { host: 'localhost', port: origin.port });
  });

  test('curl --socks5-hostname fetches through the proxy', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      execFile(
        '/usr/bin/curl',
        ['--silent', '--show-error', '--max-time', '10', '--socks5-hostname', `127.0.0.1:${socks.port}`, `http://localhost:${origin.port}/curl`],
        { timeout: 15_000 },
        (error, stdout, stderr) => (error ? reject(new Error(`curl failed: ${stderr}`)) : resolve(stdout)),
      );
    });
    assert.equal(body, 'origin says hello to /curl');
    assert.deepEqual(dialer.targets.at(-1), { host: 'localhost', port: origin.port });
  });

  test('curl --socks5 with an IPv6 literal fetches through the proxy', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      execFile(
        '/usr/bin/curl',
        ['--silent', '--show-error', '--max-time', '10', '--socks5', `127.0.0.1:${socks.port}`, `http://[::1]:${origin6.port}/curl6`],
        { timeout: 15_000 },
        (error, stdout, stderr) => (error ? reject(new Error(`curl failed: ${stderr}`)) : resolve(stdout)),
      );
    });
    assert.equal(body, 'origin says hello to /curl6');
  });

  test('a refused port gets reply 05 and the socks client reports it', async () => {
    const port = await unusedPort();
    await assert.rejects(
      SocksClient.createConnection({ proxy: proxy(), command: 'connect', destination: { host: '127.0.0.1', port }, timeout: 5_000 }),
      /ConnectionRefused/,
    );
  });

  test('the success reply carries bound address 0.0.0.0:0', async () => {
    const { client, reply } = await requestReply(socks.port, connectRequestIpv4(origin.port));
    assert.deepEqual(reply, SUCCESS_REPLY);
    client.destroy();
  });
});

describe('Socks5Server reply codes and refusals', () => {
  const dialer = new DirectTestDialer();
  const notices: ProxyNotice[] = [];
  let socks: Socks5Server;
  before(async () => {
    socks = await startSocks(dialer, {}, notices);
  });
  after(() => socks.close());

  test('refused port -> 05', async () => {
    const { reply, client } = await requestReply(socks.port, connectRequestIpv4(await unusedPort()));
    assert.equal(reply[1], 0x05);
    await client.readToClose();
  });

  test('unknown host -> 04', async () => {
    const { reply, client } = await requestReply(socks.port, connectRequestDomain('no-such-host.invalid', 80));
    assert.equal(reply[1], 0x04);
    await client.readToClose();
  });

  test('BIND and UDP ASSOCIATE -> 07', async () => {
    for (const command of [0x02, 0x03]) {
      const { reply, client } = await requestReply(socks.port, connectRequestIpv4(80, command));
      assert.deepEqual([...reply.subarray(0, 2)], [0x05, 0x07]);
      await client.readToClose();
    }
    assert.equal(dialer.targets.length, 2, 'only the CONNECTs above reached the dialer');
  });

  test('a greeting and a refused request in one write still get the method selection first (05 00, then 05 07)', async () => {
    // Found by fuzzing: the refusal used to go out alone, so a client that pipelines read 05 07 as the method reply.
    const client = await RawClient.connect(socks.port);
    client.write(Uint8Array.of(0x05, 0x01, 0x00, ...connectRequestIpv4(80, 0x02)));
    const received = await client.readToClose();
    assert.deepEqual([...received.subarray(0, 4)], [0x05, 0x00, 0x05, 0x07]);
    assert.equal(received.length, 2 + 10);
  });

  test('unknown address type -> 08', async () => {
    const { reply, client } = await requestReply(socks.port, Uint8Array.of(0x05, 0x01, 0x00, 0x02, 1, 2, 3, 4, 0, 80));
    assert.deepEqual([...reply.subarray(0, 2)], [0x05, 0x08]);
    await client.readToClose();
  });

  test('a request with the wrong version byte -> 01 and close', async () => {
    const { reply, client } = await requestReply(socks.port, Uint8Array.of(0x04, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0, 80));
    assert.deepEqual([...reply.subarray(0, 2)], [0x05, 0x01]);
    await client.readToClose();
  });

  test('a client offering only username/password gets 0xFF and is closed', async () => {
    const client = await RawClient.connect(socks.port);
    client.write(Uint8Array.of(0x05, 0x01, 0x02));
    assert.deepEqual([...(await client.readToClose())], [0x05, 0xff]);
    assert.ok(notices.some((notice) => notice.code === 'SOCKS_NO_METHOD'));
  });

  test('a garbage greeting gets 0xFF and close, and the next good client is still served', async () => {
    const origin = await startEchoOrigin();
    try {
      const garbage = await RawClient.connect(socks.port);
      garbage.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.deepEqual([...(await garbage.readToClose())], [0x05, 0xff]);
      const { reply, client } = await requestReply(socks.port, connectRequestIpv4(origin.port));
      assert.deepEqual(reply, SUCCESS_REPLY);
      client.write('still here');
      assert.equal((await client.read(10)).toString(), 'still here');
      client.destroy();
    } finally {
      await origin.close();
    }
  });
});

describe('Socks5Server streams', () => {
  let origin: OriginServer;
  let socks: Socks5Server;
  before(async () => {
    origin = await startEchoOrigin();
    socks = await startSocks(new DirectTestDialer());
  });
  after(async () => {
    await socks.close();
    await origin.close();
  });

  test('greeting and request split into single bytes across writes are parsed', async () => {
    const client = await RawClient.connect(socks.port);
    client.socket.setNoDelay(true);
    for (const byte of GREETING_NO_AUTH) {
      client.write(Uint8Array.of(byte));
      await new Promise((resolve) => setTimeout(resolve, 5)); // separate TCP segments, not a wait for an outcome
    }
    assert.deepEqual([...(await client.read(2))], [0x05, 0x00]);
    const request = connectRequestIpv4(origin.port);
    client.write(request.subarray(0, 3));
    await new Promise((resolve) => setTimeout(resolve, 5)); // pacing again: separate TCP segments
    client.write(request.subarray(3));
    assert.deepEqual(await client.read(10), SUCCESS_REPLY);
    client.destroy();
  });

  test('greeting, request and data in one write (optimistic client): the data reaches the target', async () => {
    const client = await RawClient.connect(socks.port);
    client.write(Buffer.concat([GREETING_NO_AUTH, connectRequestIpv4(origin.port), Buffer.from('early bytes')]));
    assert.deepEqual([...(await client.read(2))], [0x05, 0x00]);
    assert.deepEqual(await client.read(10), SUCCESS_REPLY);
    assert.equal((await client.read(11)).toString(), 'early bytes');
    client.destroy();
  });

  test('half-close: the client FIN reaches the target, whose reply still comes back', async () => {
    const { client, reply } = await requestReply(socks.port, connectRequestIpv4(origin.port));
    assert.deepEqual(reply, SUCCESS_REPLY);
    client.socket.end('ping');
    assert.equal((await client.readToClose()).toString(), 'pingbye');
  });

  test('a large transfer arrives intact (backpressure both ways)', async () => {
    const { client } = await requestReply(socks.port, connectRequestIpv4(origin.port));
    const payload = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < payload.length; i += 1) payload[i] = (i * 31) & 0xff;
    client.socket.end(payload);
    const echoed = await client.readToClose(20_000);
    assert.equal(echoed.length, payload.length + 3);
    assert.ok(echoed.subarray(0, payload.length).equals(payload));
  });
});

describe('Socks5Server limits', () => {
  test('a client that sends nothing is closed after handshakeTimeoutMs', async () => {
    const notices: ProxyNotice[] = [];
    const socks = await startSocks(new DirectTestDialer(), { handshakeTimeoutMs: 100 }, notices);
    try {
      const silent = await RawClient.connect(socks.port);
      assert.equal((await silent.readToClose()).length, 0);
      const partial = await RawClient.connect(socks.port);
      partial.write(GREETING_NO_AUTH);
      assert.deepEqual([...(await partial.readToClose())], [0x05, 0x00]);
      assert.equal(notices.filter((notice) => notice.code === 'SOCKS_HANDSHAKE_TIMEOUT').length, 2);
    } finally {
      await socks.close();
    }
  });

  test('a greeting longer than maxGreetingBytes is refused with 0xFF', async () => {
    const socks = await startSocks(new DirectTestDialer(), { maxGreetingBytes: 4 });
    try {
      const client = await RawClient.connect(socks.port);
      client.write(Uint8Array.of(0x05, 0x03, 0x00, 0x01, 0x02));
      assert.deepEqual([...(await client.readToClose())], [0x05, 0xff]);
    } finally {
      await socks.close();
    }
  });

  test('connections beyond maxConcurrentConnections are closed; a freed slot is reused', async () => {
    const notices: ProxyNotice[] = [];
    const socks = await startSocks(new DirectTestDialer(), { maxConcurrentConnections: 2 }, notices);
    const clients: RawClient[] = [];
    try {
      for (let i = 0; i < 2; i += 1) {
        const client = await RawClient.connect(socks.port);
        clients.push(client);
        client.write(GREETING_NO_AUTH);
        assert.deepEqual([...(await client.read(2))], [0x05, 0x00]);
      }
      const extra = await RawClient.connect(socks.port);
      clients.push(extra);
      extra.write(GREETING_NO_AUTH);
      assert.equal((await extra.readToClose()).length, 0);
      assert.ok(notices.some((notice) => notice.code === 'SOCKS_TOO_MANY_CONNECTIONS'));
      clients[0]!.destroy();
      await waitFor(() => socks.connectionCount < 2, 'the server to free a slot', { timeoutMs: 5_000, intervalMs: 10 });
      const next = await RawClient.connect(socks.port);
      clients.push(next);
      next.write(GREETING_NO_AUTH);
      assert.deepEqual([...(await next.read(2))], [0x05, 0x00]);
    } finally {
      for (const client of clients) client.destroy();
      await socks.close();
    }
  });

  test('a dial slower than dialTimeoutMs gets reply 06', async () => {
    const socks = await startSocks(new HangingTestDialer(), { dialTimeoutMs: 100 });
    try {
      const { reply, client } = await requestReply(socks.port, connectRequestDomain('slow.example', 443));
      assert.deepEqual([...reply.subarray(0, 2)], [0x05, 0x06]);
      await client.readToClose();
    } finally {
      await socks.close();
    }
  });

  test('a client that disconnects while dialing aborts the dial', async () => {
    const dialer = new HangingTestDialer();
    const socks = await startSocks(dialer);
    try {
      const client = await RawClient.connect(socks.port);
      client.write(GREETING_NO_AUTH);
      await client.read(2);
      const dialStarted = dialer.nextDial();
      client.write(connectRequestDomain('slow.example', 443));
      await withTimeout(dialStarted, 'the dial to start', 5_000);
      const dialAborted = dialer.nextAbort();
      client.destroy();
      await withTimeout(dialAborted, 'the dial to be aborted', 5_000);
      assert.equal(dialer.abortedSignals.length, 1);
    } finally {
      await socks.close();
    }
  });
});
