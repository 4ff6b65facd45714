import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { chooseExit, ExitListError, fetchExitList, MAX_EXIT_LIST_BYTES, trustExitList } from '../../../extension/broker-exits.ts';
import { LocalOperator } from '../../../harness/operator.ts';

const exitA = { id: 'a', url: 'ws://127.0.0.1:9000/v1/relay', publicKey: 'A'.repeat(43) };
const exitB = { id: 'b', url: 'ws://127.0.0.1:9001/v1/relay', publicKey: `${'B'.repeat(42)}A` };

const operator = new LocalOperator();
const keys = [operator.exitListKey];
const signed = operator.signExitList([exitA, exitB]);

const isCode = (code: string) => (error: unknown) => error instanceof ExitListError && error.code === code;

describe('choosing an exit', () => {
  test('empty id picks the first listed; an id picks that exit', () => {
    assert.equal(chooseExit([exitA, exitB], ''), exitA);
    assert.equal(chooseExit([exitA, exitB], 'b'), exitB);
  });

  test('no exits, or an unknown id, fail with a message naming what exists', () => {
    assert.throws(() => chooseExit([], ''), isCode('NO_EXITS'));
    assert.throws(
      () => chooseExit([exitA], 'zz'),
      (error: unknown) => isCode('UNKNOWN_EXIT')(error) && /lists: a/.test((error as Error).message),
    );
  });

  test('only a list signed by a pinned key is trusted; the document is kept to pass on', () => {
    assert.deepEqual(trustExitList(signed, keys, Date.now()), { exitList: signed, exits: [exitA, exitB] });
    assert.throws(() => trustExitList({ exits: [exitA] }, keys, Date.now()), isCode('BAD_EXIT_LIST'));
    assert.throws(() => trustExitList(new LocalOperator().signExitList([exitA]), keys, Date.now()), isCode('EXIT_LIST_NOT_SIGNED'));
    assert.throws(() => trustExitList(signed, [], Date.now()), isCode('NO_EXIT_LIST_KEY'));
  });
});

describe('fetching the list from a broker on loopback', () => {
  let server: Server;
  let base: string;
  before(async () => {
    server = createServer((request, response) => {
      const cors = { 'access-control-allow-origin': '*', 'content-type': 'application/json' };
      if (request.url === '/ok/v1/exits') response.writeHead(200, cors).end(JSON.stringify(signed));
      else if (request.url === '/unsigned/v1/exits') response.writeHead(200, cors).end(JSON.stringify({ exits: [exitA, exitB] }));
      else if (request.url === '/forged/v1/exits') response.writeHead(200, cors).end(JSON.stringify(new LocalOperator().signExitList([exitA])));
      else if (request.url === '/down/v1/exits') response.writeHead(503, cors).end('{"error":{"code":"X","message":"y"}}');
      else if (request.url === '/huge/v1/exits') response.writeHead(200, cors).end(' '.repeat(MAX_EXIT_LIST_BYTES + 1));
      else if (request.url === '/junk/v1/exits') response.writeHead(200, cors).end('<html>');
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test('a good answer gives the exits', async () => {
    assert.deepEqual((await fetchExitList(`${base}/ok`, keys)).exits, [exitA, exitB]);
  });

  test('an unsigned or wrongly signed list is refused', async () => {
    await assert.rejects(fetchExitList(`${base}/unsigned`, keys), isCode('BAD_EXIT_LIST'));
    await assert.rejects(fetchExitList(`${base}/forged`, keys), isCode('EXIT_LIST_NOT_SIGNED'));
  });

  test('errors, oversized and non-JSON answers are typed', async () => {
    await assert.rejects(fetchExitList(`${base}/down`, keys), isCode('BROKER_ERROR'));
    await assert.rejects(fetchExitList(`${base}/huge`, keys), isCode('BAD_EXIT_LIST'));
    await assert.rejects(fetchExitList(`${base}/junk`, keys), isCode('BAD_EXIT_LIST'));
  });

  test('a closed port is BROKER_UNREACHABLE, naming the broker', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await assert.rejects(
      fetchExitList(`http://127.0.0.1:${port}`, keys),
      (error: unknown) => isCode('BROKER_UNREACHABLE')(error) && (error as Error).message.includes(`127.0.0.1:${port}`),
    );
  });
});
