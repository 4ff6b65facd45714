// A broker flooded from one address keeps serving everyone else: slow bodies hold only a bounded reading slot per
// address and never count as pending clients, offers are rate-limited per address (429 with Retry-After), and one
// address holds a bounded number of volunteer sockets. The attacker connects from 127.0.0.2, honest parties from
// 127.0.0.1 (Linux routes all of 127/8 to lo).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { waitFor, withTimeout } from '../../../harness/wait.ts';
import { errorCodeOf, offerBody, TestNetwork, WAIT_MS } from './helpers.ts';

const ATTACKER = '127.0.0.2';

/** POSTs an offer from `localAddress`; resolves with the status, the Retry-After header and the error code. */
function postFrom(network: TestNetwork, localAddress: string): Promise<{ status: number; retryAfter: string | undefined; code: string | undefined }> {
  const body = offerBody();
  return withTimeout(
    new Promise((resolve, reject) => {
      const outgoing = request(
        `${network.baseUrl}/v1/client`,
        { method: 'POST', localAddress, headers: { 'content-type': 'application/json' } },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const retryAfter = response.headers['retry-after'];
            resolve({
              status: response.statusCode ?? 0,
              retryAfter,
              code: text ? errorCodeOf({ status: 0, headers: new Headers(), body: JSON.parse(text) }) : undefined,
            });
          });
        },
      );
      outgoing.on('error', reject);
      outgoing.end(body);
    }),
    `an answer to a POST from ${localAddress}`,
    WAIT_MS * 2,
  );
}

/** A request that sends its headers and 10 bytes of a 5,000-byte body, then nothing. Resolves once connected. */
async function slowBody(network: TestNetwork): Promise<{ socket: Socket; reply: () => string }> {
  const { port } = new URL(network.baseUrl);
  const socket = connect({ host: '127.0.0.1', port: Number(port), localAddress: ATTACKER });
  let reply = '';
  socket.on('data', (chunk: Buffer) => {
    reply += chunk.toString('latin1');
  });
  socket.on('error', () => {});
  await withTimeout(once(socket, 'connect'), 'a slow-body connection');
  socket.write('POST /v1/client HTTP/1.1\r\nHost: broker\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"offer":');
  return { socket, reply: () => reply };
}

test('1,000 slow-body requests from one address: that address gets 429 beyond its reading slots, and an honest client is answered', async () => {
  const network = await TestNetwork.start();
  const attackers: Array<{ socket: Socket; reply: () => string }> = [];
  try {
    const volunteer = await network.volunteer({ slots: 1 });
    for (let batch = 0; batch < 10; batch++) attackers.push(...(await Promise.all(Array.from({ length: 100 }, () => slowBody(network)))));
    const limit = network.broker.config.maxBodiesReadingPerAddress;
    await waitFor(
      () => attackers.filter((attacker) => attacker.reply() !== '').length === attackers.length - limit,
      `all but ${limit} slow bodies to be refused`,
      {
        timeoutMs: WAIT_MS * 2,
      },
    );
    const refused = attackers.filter((attacker) => attacker.reply() !== '');
    assert.ok(
      refused.every((attacker) => attacker.reply().startsWith('HTTP/1.1 429 ')),
      'each refusal is a 429',
    );
    assert.match(refused[0]?.reply() ?? '', /TOO_MANY_REQUESTS/);
    assert.equal((await network.broker.metrics()).clientsPending, 0, 'slow bodies are not pending clients');

    // An honest client from another address is matched with the volunteer and answered.
    const honest = network.postClient();
    const offer = await volunteer.nextOffer();
    volunteer.answer(offer.matchId);
    const reply = await honest;
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
  } finally {
    for (const attacker of attackers) attacker.socket.destroy();
    await network.close();
  }
});

test('an address that offers too fast gets 429 with Retry-After; another address is still served', async () => {
  const network = await TestNetwork.start({ maxOffersPerAddressPerMinute: 3 });
  try {
    const replies = [];
    for (let index = 0; index < 4; index++) replies.push(await postFrom(network, ATTACKER));
    // No volunteer is connected: within its budget the attacker hears NO_VOLUNTEERS, beyond it TOO_MANY_REQUESTS.
    assert.deepEqual(
      replies.map((reply) => reply.code),
      ['NO_VOLUNTEERS', 'NO_VOLUNTEERS', 'NO_VOLUNTEERS', 'TOO_MANY_REQUESTS'],
    );
    assert.equal(replies[3]?.status, 429);
    assert.equal(replies[3]?.retryAfter, '20', 'one offer comes back every 20 s at 3 a minute');
    assert.equal((await postFrom(network, '127.0.0.1')).code, 'NO_VOLUNTEERS', 'another address has its own budget');
    assert.equal((await network.broker.metrics()).rateLimitedTotal, 1);
  } finally {
    await network.close();
  }
});

test('one address holds at most maxVolunteersPerAddress volunteer sockets; another address still connects', async () => {
  const network = await TestNetwork.start({ maxVolunteersPerAddress: 2 });
  const sockets: WebSocket[] = [];
  const open = async (localAddress: string): Promise<number> => {
    const socket = new WebSocket(network.volunteerUrl, { localAddress });
    sockets.push(socket);
    return withTimeout(
      new Promise<number>((resolve) => {
        socket.once('open', () => resolve(101));
        socket.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
        socket.once('error', () => {});
      }),
      `a volunteer socket from ${localAddress}`,
    );
  };
  try {
    assert.deepEqual([await open(ATTACKER), await open(ATTACKER), await open(ATTACKER), await open('127.0.0.1')], [101, 101, 429, 101]);
    // A socket that closes gives its place back.
    const first = sockets[0];
    first?.close();
    if (first) await withTimeout(once(first, 'close'), 'the first socket to close');
    await waitFor(async () => (await open(ATTACKER)) === 101, 'the freed place to be taken again');
  } finally {
    for (const socket of sockets) socket.terminate();
    await network.close();
  }
});
