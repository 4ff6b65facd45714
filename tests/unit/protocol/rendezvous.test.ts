import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ChannelError,
  carryOverChannels,
  channelName,
  orderChannels,
  parseRendezvousChannels,
  type RendezvousChannel,
  RendezvousConfigError,
  RendezvousFailedError,
  RendezvousStoppedError,
} from '../../../protocol/rendezvous.ts';

const direct: RendezvousChannel = { kind: 'direct', url: 'https://broker.example', timeoutMs: 1_000 };
const fronted: RendezvousChannel = { kind: 'fronted', url: 'https://broker.example', front: 'cdn.example', timeoutMs: 1_000 };
const cache: RendezvousChannel = { kind: 'cache', url: 'https://cache.example/c/s/broker.example', timeoutMs: 1_000 };

/** An attempt whose reply opens when it is "ok:" followed by the envelope it answers. */
function sealer(): () => { envelope: string; open(reply: string): string } {
  let made = 0;
  return () => {
    const envelope = `envelope-${++made}`;
    return {
      envelope,
      open: (reply) => {
        if (reply !== `ok:${envelope}`) throw new Error('not the reply to this envelope');
        return reply;
      },
    };
  };
}

describe('rendezvous channels', () => {
  test('channel lists are checked: kind, https, a front only where it belongs, bounded timeouts', () => {
    assert.deepEqual(parseRendezvousChannels([{ kind: 'direct', url: 'https://b.example/' }]), [{ kind: 'direct', url: 'https://b.example' }]);
    for (const bad of [
      [],
      [{ kind: 'carrier-pigeon', url: 'https://b.example' }],
      [{ kind: 'direct', url: 'ftp://b.example' }],
      [{ kind: 'direct', url: 'https://b.example', front: 'cdn.example' }],
      [{ kind: 'fronted', url: 'https://b.example' }],
      [{ kind: 'fronted', url: 'http://b.example', front: 'cdn.example' }],
      [{ kind: 'fronted', url: 'https://b.example', front: 'cdn.example/x' }],
      [{ kind: 'cache', url: 'https://c.example?q=1' }],
      [{ kind: 'direct', url: 'https://b.example', timeoutMs: 10 }],
      Array.from({ length: 9 }, () => ({ kind: 'direct', url: 'https://b.example' })),
    ]) {
      assert.throws(() => parseRendezvousChannels(bad), RendezvousConfigError, JSON.stringify(bad));
    }
  });

  test('names say the kind and where it goes; the one that worked last goes first', () => {
    assert.equal(channelName(fronted), 'fronted via cdn.example to broker.example');
    assert.deepEqual(orderChannels([direct, fronted, cache], channelName(cache)), [cache, direct, fronted]);
    assert.deepEqual(orderChannels([direct, fronted, cache], 'a channel no longer listed'), [direct, fronted, cache]);
  });

  test('each channel gets a freshly sealed envelope; a forged reply counts as that channel failing, and the next carries', async () => {
    const carried: string[] = [];
    const result = await carryOverChannels(
      [direct, cache],
      async (channel, envelope) => {
        carried.push(envelope);
        return channel.kind === 'direct' ? 'forged' : `ok:${envelope}`;
      },
      sealer(),
      { signal: new AbortController().signal },
    );
    assert.deepEqual(carried, ['envelope-1', 'envelope-2']);
    assert.equal(result.value, 'ok:envelope-2');
    assert.deepEqual(
      result.failures.map((failure) => failure.code),
      ['BAD_REPLY'],
    );
  });

  test("a channel that never answers fails by its own timeout; a carrier's ChannelError keeps its code", async () => {
    const error = await carryOverChannels(
      [direct, fronted],
      (channel, _envelope, signal) =>
        channel.kind === 'direct'
          ? new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))))
          : Promise.reject(new ChannelError('HTTP_404', 'it answered HTTP 404')),
      sealer(),
      { signal: new AbortController().signal },
    ).catch((caught: unknown) => caught);
    assert.ok(error instanceof RendezvousFailedError);
    assert.deepEqual(
      error.failures.map((failure) => [failure.code, failure.message]),
      [
        ['TIMEOUT', 'no answer within 1 s'],
        ['HTTP_404', 'it answered HTTP 404'],
      ],
    );
  });

  test('a stop from outside ends the attempt at once, not as a channel failure', async () => {
    const stop = new AbortController();
    const pending = carryOverChannels(
      [direct, cache],
      (_channel, _envelope, signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')))),
      sealer(),
      { signal: stop.signal },
    );
    stop.abort();
    await assert.rejects(pending, RendezvousStoppedError);
  });
});
