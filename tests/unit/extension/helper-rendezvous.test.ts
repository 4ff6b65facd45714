import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseClientPathEvent, parseOffscreenMessage } from '../../../extension/messages.ts';
import { HelperRendezvousCarrier } from '../../../extension/offscreen/helper-rendezvous.ts';
import { MAX_RENDEZVOUS_IN_FLIGHT, type PipeRendezvous } from '../../../protocol/local-channel.ts';
import { ChannelError, type RendezvousChannel } from '../../../protocol/rendezvous.ts';

const channel: RendezvousChannel = { kind: 'fronted', url: 'https://broker.example.org', front: 'cdn.example.net' };
const codeOf = (promise: Promise<string>): Promise<string> =>
  promise.then(
    () => 'resolved',
    (error: unknown) => (error instanceof ChannelError ? error.code : String(error)),
  );

test('each request goes to the helper with its own id and settles with the answer of that id only', async () => {
  const sent: PipeRendezvous[] = [];
  const carrier = new HelperRendezvousCarrier((message) => sent.push(message) > 0);
  const first = carrier.carry(channel, 'ENV1', new AbortController().signal);
  const second = carrier.carry(channel, 'ENV2', new AbortController().signal);
  assert.deepEqual(
    sent.map((message) => [message.id, message.envelope, message.channel]),
    [
      [1, 'ENV1', channel],
      [2, 'ENV2', channel],
    ],
  );
  carrier.answer({ type: 'rendezvous-failed', id: 2, code: 'HTTP_404', message: 'it answered HTTP 404' });
  carrier.answer({ type: 'rendezvous-reply', id: 1, reply: 'REPLY1' });
  carrier.answer({ type: 'rendezvous-reply', id: 7, reply: 'stale' }); // nobody waits for it: dropped
  assert.equal(await first, 'REPLY1');
  assert.equal(await codeOf(second), 'HTTP_404');
  assert.equal(carrier.pending, 0);
});

test('bounded: one more than MAX_RENDEZVOUS_IN_FLIGHT is refused with BUSY; a stop or a closed pipe ends the waiting ones', async () => {
  const carrier = new HelperRendezvousCarrier(() => true);
  const stop = new AbortController();
  const waiting = Array.from({ length: MAX_RENDEZVOUS_IN_FLIGHT }, (_, index) =>
    carrier.carry(channel, `E${index}`, index === 0 ? stop.signal : new AbortController().signal),
  );
  assert.equal(await codeOf(carrier.carry(channel, 'one too many', new AbortController().signal)), 'BUSY');
  stop.abort();
  assert.equal(await codeOf(waiting[0] as Promise<string>), 'STOPPED');
  carrier.failAll('the pipe closed');
  assert.deepEqual(await Promise.all(waiting.slice(1).map(codeOf)), ['NO_HELPER', 'NO_HELPER', 'NO_HELPER']);
  assert.equal(await codeOf(new HelperRendezvousCarrier(() => false).carry(channel, 'E', new AbortController().signal)), 'NO_HELPER');
});

test('client-start carries the rendezvous checked as a signed list would be; broker-reached names its channel', () => {
  const base = {
    target: 'offscreen',
    type: 'client-start',
    pipeUrl: 'ws://127.0.0.1:4000/pipe',
    token: 't',
    brokerUrl: 'http://127.0.0.1:8787',
    exit: { id: 'e', url: 'ws://127.0.0.1:9/v1/relay', publicKey: 'A'.repeat(43) },
  };
  const rendezvous = { brokerKey: 'A'.repeat(43), channels: [channel], lastWorked: 'fronted via cdn.example.net to broker.example.org' };
  const parsed = parseOffscreenMessage({ ...base, rendezvous });
  assert.deepEqual(parsed.type === 'client-start' && parsed.rendezvous, rendezvous);
  assert.throws(() => parseOffscreenMessage({ ...base, rendezvous: { ...rendezvous, channels: [{ kind: 'fronted', url: 'https://b.example' }] } }), /front/);
  assert.deepEqual(parseClientPathEvent({ kind: 'broker-reached', channel: 'cache c.example' }), { kind: 'broker-reached', channel: 'cache c.example' });
  assert.throws(() => parseClientPathEvent({ kind: 'broker-reached', channel: '' }));
});
