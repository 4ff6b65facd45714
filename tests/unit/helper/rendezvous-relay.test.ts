import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planRequest } from '../../../native-helper/rendezvous-carrier.ts';
import { type RendezvousAnswer, RendezvousRelay } from '../../../native-helper/rendezvous-relay.ts';
import { MAX_RENDEZVOUS_IN_FLIGHT, type PipeRendezvous } from '../../../protocol/local-channel.ts';
import { ChannelError } from '../../../protocol/rendezvous.ts';

const request = (id: number): PipeRendezvous => ({
  type: 'rendezvous',
  id,
  channel: { kind: 'cache', url: 'https://cache.example', timeoutMs: 1_000 },
  envelope: 'AAAA',
});

test("fronting: TCP and TLS (SNI) go to the front, the Host and path are the broker's; an IP front sends no SNI", () => {
  const fronted = planRequest({ kind: 'fronted', url: 'https://broker.example.org/base', front: 'cdn.example.net' }, 'ENV');
  assert.deepEqual(fronted, {
    secure: true,
    connectHost: 'cdn.example.net',
    connectPort: 443,
    serverName: 'cdn.example.net',
    hostHeader: 'broker.example.org',
    path: '/base/v1/rendezvous',
    method: 'POST',
  });
  const byAddress = planRequest({ kind: 'fronted', url: 'https://broker.example.org', front: '192.0.2.9:8443' }, 'ENV');
  assert.equal(byAddress.serverName, undefined);
  assert.equal(byAddress.connectPort, 8443);
  const cached = planRequest({ kind: 'cache', url: 'https://cache.example.net/c/s/broker.example.org' }, 'ENV');
  assert.deepEqual([cached.method, cached.path, cached.hostHeader], ['GET', '/c/s/broker.example.org/v1/rendezvous/ENV', 'cache.example.net']);
});

test('the relay answers each request once under its id, refuses more than its bound with BUSY, and keeps its code on failure', async () => {
  const releases: Array<() => void> = [];
  const relay = new RendezvousRelay(
    (_channel, envelope) =>
      new Promise((resolve, reject) => {
        releases.push(() => (envelope === 'AAAA' ? resolve('REPLY') : reject(new ChannelError('HTTP_404', 'it answered HTTP 404'))));
      }),
  );
  const answers: RendezvousAnswer[] = [];
  const open = new AbortController();
  for (let id = 1; id <= MAX_RENDEZVOUS_IN_FLIGHT + 1; id++) relay.handle(request(id), (answer) => answers.push(answer), open.signal);
  assert.deepEqual(answers, [
    {
      type: 'rendezvous-failed',
      id: MAX_RENDEZVOUS_IN_FLIGHT + 1,
      code: 'BUSY',
      message: `the helper is already carrying ${MAX_RENDEZVOUS_IN_FLIGHT} rendezvous requests`,
    },
  ]);
  for (const release of releases) release();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(
    answers.slice(1).map((answer) => [answer.type, answer.id]),
    [1, 2, 3, 4].map((id) => ['rendezvous-reply', id]),
  );
  assert.equal(relay.inFlight, 0);
  relay.handle({ ...request(9), envelope: 'BBBB' }, (answer) => answers.push(answer), open.signal);
  releases.at(-1)?.();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(answers.at(-1), { type: 'rendezvous-failed', id: 9, code: 'HTTP_404', message: 'it answered HTTP 404' });
});

test('a channel that hangs fails with TIMEOUT after its own timeout; a closed pipe ends a request without an answer', async () => {
  const relay = new RendezvousRelay(
    (_channel, _envelope, signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')))),
  );
  const answers: RendezvousAnswer[] = [];
  relay.handle(request(1), (answer) => answers.push(answer), new AbortController().signal);
  const pipe = new AbortController();
  relay.handle(request(2), (answer) => answers.push(answer), pipe.signal);
  pipe.abort();
  await new Promise((resolve) => setTimeout(resolve, 1_200));
  assert.deepEqual(answers, [{ type: 'rendezvous-failed', id: 1, code: 'TIMEOUT', message: 'no answer within 1 s' }]);
  assert.equal(relay.inFlight, 0);
});
