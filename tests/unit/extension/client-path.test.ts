// ClientPath with real parts on 127.0.0.1: a `ws` server stands in for the helper's pipe, an HTTP server for the
// broker, and behind it a node-datachannel peer plays the volunteer (echoing every record back). ClientPath itself
// gets node-datachannel's standard RTCPeerConnection, ws's WebSocket and node's fetch.

import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, describe, test } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import { RTCPeerConnection as NodePeerConnection } from 'node-datachannel/polyfill';
import { WebSocket as NodeWebSocket, type WebSocket as ServerSocket, WebSocketServer } from 'ws';
import { ClientPath, ClientPathConfigError, type ClientPathEnvironment, retryDelayFor } from '../../../extension/offscreen/client-path.ts';
import type { ClientPathEvent } from '../../../extension/ui-state.ts';
import { type WaitOptions, waitFor } from '../../../harness/wait.ts';
import { framePipeRecord, type SessionReport } from '../../../protocol/local-channel.ts';
import type { ExitInfo } from '../../../protocol/signaling.ts';

const STEP_TIMEOUT_MS = 10_000;
/** Every wait for a step of these tests: bounded by STEP_TIMEOUT_MS, polled cheaply. */
const STEP: WaitOptions = { timeoutMs: STEP_TIMEOUT_MS, intervalMs: 10 };
const exit: ExitInfo = { id: 'local', url: 'ws://127.0.0.1:9000/v1/relay', publicKey: 'A'.repeat(43) };
const fastRetries = { retryDelayMs: 50, maxRetryDelayMs: 100, iceGatheringTimeoutMs: 3_000, dataChannelOpenTimeoutMs: 8_000 };

/**
 * node-datachannel as the *offering* side now and then fails setRemoteDescription with "Got a remote candidate without
 * ICE transport" (a libdatachannel race; Chromium is the real offerer). ClientPath treats it like any failed attempt
 * and retries, which is right; assertions about broker errors leave these attempts out.
 */
const isLibdatachannelRace = (message: string | undefined): boolean => /libdatachannel/.test(message ?? '');

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
after(() => nodeDataChannel.cleanup());

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The broker: answers with a node-datachannel volunteer that echoes records, or with a queued error. */
class TestBroker {
  readonly requests: Array<{ offer: { type: string; sdp: string }; exitId: string; nat: string; avoid?: string[] }> = [];
  readonly volunteers: NodePeerConnection[] = [];
  /** Each answer's volunteer name, and what its request asked to avoid. */
  readonly answers: Array<{ volunteer: string; avoid: string[] | undefined }> = [];
  /** Answered (and emptied) before any volunteer is used. */
  readonly queuedErrors: Array<{ status: number; code: string; message: string }> = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<TestBroker> {
    const server = createServer();
    const broker = new TestBroker(server, `http://127.0.0.1:${await listen(server)}`);
    server.on('request', (request, response) => void broker.onRequest(request, response));
    return broker;
  }

  private async onRequest(request: IncomingMessage, response: import('node:http').ServerResponse): Promise<void> {
    const body = JSON.parse(await readBody(request)) as TestBroker['requests'][number];
    this.requests.push(body);
    const error = this.queuedErrors.shift();
    if (error !== undefined) {
      response.writeHead(error.status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: error.code, message: error.message } }));
      return;
    }
    const volunteer = new NodePeerConnection({ iceServers: [] });
    this.volunteers.push(volunteer);
    volunteer.ondatachannel = ({ channel }) => {
      channel.binaryType = 'arraybuffer';
      channel.onmessage = (event: MessageEvent) => channel.send(event.data as ArrayBuffer);
    };
    await volunteer.setRemoteDescription(body.offer as RTCSessionDescriptionInit);
    await volunteer.setLocalDescription(await volunteer.createAnswer());
    await waitFor(() => volunteer.iceGatheringState === 'complete', 'the volunteer to gather candidates', STEP);
    const answer = volunteer.localDescription as RTCSessionDescription;
    const name = `volunteer-${this.volunteers.length}`;
    this.answers.push({ volunteer: name, avoid: body.avoid });
    response
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ matchId: 'm1', answer: { type: answer.type, sdp: answer.sdp }, volunteer: name }));
  }

  close(): Promise<void> {
    for (const volunteer of this.volunteers) volunteer.close();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** The helper's pipe: accepts one connection with the right token and records what arrives. */
class TestPipe {
  socket: ServerSocket | undefined;
  readonly texts: Array<{ type: string; code?: string; reason?: string; pathId?: number; role?: string }> = [];
  readonly records: Buffer[] = [];
  closed = false;

  private constructor(
    private readonly wss: WebSocketServer,
    readonly url: string,
  ) {}

  static async start(token: string): Promise<TestPipe> {
    const server = createServer();
    const wss = new WebSocketServer({ server, path: '/pipe', maxPayload: 512 * 1024 });
    const pipe = new TestPipe(wss, `ws://127.0.0.1:${await listen(server)}/pipe`);
    wss.on('connection', (socket, request) => {
      if (new URL(request.url ?? '', 'http://x').searchParams.get('token') !== token) {
        socket.close(4001, 'bad token');
        return;
      }
      pipe.socket = socket;
      socket.on('message', (data, isBinary) => {
        if (isBinary) pipe.records.push(data as Buffer);
        else pipe.texts.push(JSON.parse(String(data)));
      });
      socket.on('close', () => (pipe.closed = true));
    });
    return pipe;
  }

  count(type: string): number {
    return this.texts.filter((text) => text.type === type).length;
  }

  /** The path id of the `index`th path-up. */
  pathUp(index: number): number {
    const id = this.texts.filter((text) => text.type === 'path-up')[index]?.pathId;
    assert.ok(id !== undefined, `path-up ${index} names its path`);
    return id;
  }

  /** Sends `record` to the volunteer of path `pathId`, as the helper does. */
  send(pathId: number, record: Uint8Array): void {
    this.socket?.send(framePipeRecord(pathId, record), { binary: true });
  }

  close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
    const server = (this.wss.options.server as Server | undefined)!;
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}

const nodeEnvironment: ClientPathEnvironment = {
  createPeerConnection: (config) => new NodePeerConnection(config) as unknown as RTCPeerConnection,
  createWebSocket: (url) => new NodeWebSocket(url) as unknown as WebSocket,
  fetch: (input, init) => fetch(input, init),
};

async function setup(token = 'tok-1', paths: { pathCount?: number; stripe?: boolean } = {}) {
  const broker = await TestBroker.start();
  cleanups.push(() => broker.close());
  const pipe = await TestPipe.start(token);
  cleanups.push(() => pipe.close());
  const events: ClientPathEvent[] = [];
  const sessions: SessionReport[] = [];
  const path = new ClientPath({ pipeUrl: pipe.url, token, brokerUrl: broker.url, exit, limits: fastRetries, ...paths }, nodeEnvironment, {
    onPathEvent: (event) => events.push(event),
    onSession: (report) => sessions.push(report),
  });
  cleanups.push(() => path.stop());
  return { broker, pipe, path, events, sessions };
}

describe('ClientPath over real WebRTC and WebSockets', { timeout: 60_000 }, () => {
  test('gets a path, reports path-up, and carries records both ways verbatim', async () => {
    const { broker, pipe, path, events } = await setup();
    path.start();
    await waitFor(() => pipe.count('path-up') === 1, 'path-up on the pipe', STEP);
    // libdatachannel's own race fails a first attempt now and then; the retry then looks for a volunteer again.
    const kinds = events
      .filter((event) => !(event.kind === 'error' && isLibdatachannelRace(event.message)))
      .map((event) => event.kind)
      .filter((kind, index, all) => !(kind === 'finding' && all[index - 1] === 'finding'));
    assert.deepEqual(kinds, ['finding', 'up'], JSON.stringify(events));
    assert.equal(broker.requests[0]?.exitId, 'local');
    assert.equal(broker.requests[0]?.nat, 'unknown');
    assert.equal(broker.requests[0]?.offer.type, 'offer');

    // Before ICE, the answer's addresses (whole-device mode lets them out); once open, the selected pair's.
    const upAt = pipe.texts.findIndex((text) => text.type === 'path-up');
    const connecting = pipe.texts[upAt - 1] as { type: string; addresses?: string[] };
    assert.equal(connecting.type, 'path-connecting', JSON.stringify(pipe.texts));
    assert.ok((connecting.addresses ?? []).length >= 1, JSON.stringify(connecting));
    const up = pipe.texts[upAt] as { type: string; pathId: number; role: string; peerAddress?: string };
    assert.deepEqual({ ...up, peerAddress: undefined }, { type: 'path-up', pathId: 1, role: 'carry', peerAddress: undefined });
    // Reported when the selected pair is IPv4 (this machine may pick its IPv6 address: then there is none).
    if (up.peerAddress !== undefined)
      assert.ok(connecting.addresses?.includes(up.peerAddress), `the selected address is one of the answer's: ${JSON.stringify(pipe.texts.slice(0, 2))}`);
    const records = [Buffer.from('first record'), Buffer.alloc(200 * 1024, 7)];
    for (const record of records) pipe.send(1, record);
    await waitFor(() => pipe.records.length === 2, 'both records echoed back', STEP);
    assert.deepEqual(
      pipe.records,
      records.map((record) => Buffer.from(framePipeRecord(1, record))),
    );
    // A record for a path that is not up goes nowhere.
    pipe.send(9, Buffer.from('lost'));
    pipe.send(1, Buffer.from('last'));
    await waitFor(() => pipe.records.length === 3, 'the last record echoed back', STEP);
    assert.equal(String(pipe.records[2]?.subarray(1)), 'last');
  });

  test('forwards the helper session stats, volunteer changes included', async () => {
    const { pipe, path, sessions } = await setup();
    path.start();
    await waitFor(() => pipe.count('path-up') === 1, 'the first path-up', STEP);
    pipe.socket?.send(JSON.stringify({ type: 'session', state: 'resuming', bytesUp: 5, bytesDown: 6, streams: 1, pathChanges: 3, paths: 0 }));
    await waitFor(() => sessions.length === 1, 'the session report', STEP);
    assert.deepEqual(sessions[0], { state: 'resuming', bytesUp: 5, bytesDown: 6, streams: 1, pathChanges: 3, paths: 0 });
  });

  test('need-path while a path is up: that path is closed, path-down sent, and another volunteer found at once', async () => {
    const { broker, pipe, path, events } = await setup();
    path.start();
    await waitFor(() => pipe.count('path-up') === 1, 'the first path', STEP);
    const firstVolunteer = broker.volunteers[0];
    pipe.socket?.send(JSON.stringify({ type: 'need-path', pathId: pipe.pathUp(0), reason: 'no record for 10 s' }));
    await waitFor(() => pipe.count('path-down') === 1 && pipe.count('path-up') === 2, 'path-down, then a second path-up', STEP);
    assert.match(pipe.texts.find((text) => text.type === 'path-down')?.reason ?? '', /no record for 10 s/);
    const order = pipe.texts.map((text) => text.type).filter((type) => type !== 'path-error' && type !== 'path-connecting');
    assert.deepEqual(order, ['path-up', 'path-down', 'path-up']);
    assert.ok(broker.volunteers.length >= 2 && broker.volunteers.at(-1) !== firstVolunteer, 'a new volunteer was asked for');
    await waitFor(() => firstVolunteer?.connectionState !== 'connected', 'the old peer connection to close', STEP);
    assert.ok(
      events.some((event) => event.kind === 'down'),
      JSON.stringify(events),
    );
    // Records go through the new path.
    pipe.send(pipe.pathUp(1), Buffer.from('over the new volunteer'));
    await waitFor(() => pipe.records.length === 1, 'a record through the new path', STEP);
    assert.equal(String(pipe.records[0]?.subarray(1)), 'over the new volunteer');
  });

  test('need-path while a volunteer is already being looked for starts no second search', async () => {
    const { broker, pipe } = await setup();
    const sessions: unknown[] = [];
    // Two failures in a row: the next attempt waits retryDelayMs (a minute here).
    broker.queuedErrors.push({ status: 503, code: 'NO_VOLUNTEERS', message: 'none' }, { status: 503, code: 'NO_VOLUNTEERS', message: 'none' });
    const path = new ClientPath(
      { pipeUrl: pipe.url, token: 'tok-1', brokerUrl: broker.url, exit, limits: { ...fastRetries, retryDelayMs: 60_000, maxRetryDelayMs: 60_000 } },
      nodeEnvironment,
      {
        onPathEvent: () => undefined,
        onSession: (report) => sessions.push(report),
      },
    );
    cleanups.push(() => path.stop());
    path.start();
    await waitFor(() => pipe.count('path-error') === 2, 'two path errors', STEP);
    pipe.socket?.send(JSON.stringify({ type: 'need-path', reason: 'session closed' }));
    // Messages on the pipe are handled in order: once this report is through, need-path was handled too.
    pipe.socket?.send(JSON.stringify({ type: 'session', state: 'waiting-for-path', bytesUp: 0, bytesDown: 0, streams: 0, pathChanges: 0, paths: 0 }));
    await waitFor(() => sessions.length === 1, 'the session report after need-path', STEP);
    assert.equal(broker.requests.length, 2);
    assert.equal(path.hasPath, false);
  });

  test('broker errors go to the pipe as path-error and are retried until a volunteer answers', async () => {
    const { broker, pipe, path, events } = await setup();
    broker.queuedErrors.push(
      { status: 503, code: 'NO_VOLUNTEERS', message: 'no volunteers right now' },
      { status: 504, code: 'TIMED_OUT', message: 'the volunteer did not answer' },
    );
    path.start();
    await waitFor(() => pipe.count('path-up') === 1, 'path-up after two failures', STEP);
    const brokerErrors = pipe.texts.filter((text) => text.type === 'path-error' && text.code !== 'PATH_FAILED');
    assert.deepEqual(
      brokerErrors.map((text) => text.code),
      ['NO_VOLUNTEERS', 'TIMED_OUT'],
    );
    const errors = events.filter((event) => event.kind === 'error');
    // A single failure is retried at once; the second in a row waits retryDelayMs.
    assert.deepEqual(
      errors.slice(0, 2).map((event) => event.kind === 'error' && event.retryInMs),
      [0, 50],
    );
    assert.ok(
      errors.every((event) => event.kind === 'error' && (event.code !== 'PATH_FAILED' || isLibdatachannelRace(event.message))),
      JSON.stringify(errors),
    );
  });

  test('an unreachable broker is reported as BROKER_UNREACHABLE', async () => {
    const { broker, pipe, events } = await setup();
    await broker.close();
    const path = new ClientPath({ pipeUrl: pipe.url, token: 'tok-1', brokerUrl: broker.url, exit, limits: fastRetries }, nodeEnvironment, {
      onPathEvent: (event) => events.push(event),
      onSession: () => undefined,
    });
    cleanups.push(() => path.stop());
    path.start();
    await waitFor(() => pipe.count('path-error') >= 1, 'a path-error', STEP);
    assert.equal(pipe.texts.find((text) => text.type === 'path-error')?.code, 'BROKER_UNREACHABLE');
  });

  test('when the volunteer goes away: path-down, then a new path', async () => {
    const { broker, pipe, path } = await setup();
    path.start();
    await waitFor(() => pipe.count('path-up') === 1, 'the first path', STEP);
    broker.volunteers[0]?.close();
    await waitFor(() => pipe.count('path-down') === 1 && pipe.count('path-up') === 2, 'path-down and a second path-up', STEP);
    pipe.send(pipe.pathUp(1), Buffer.from('after the switch'));
    await waitFor(() => pipe.records.length === 1, 'a record through the new path', STEP);
    assert.equal(String(pipe.records[0]?.subarray(1)), 'after the switch');
  });

  test('a volunteer that carried traffic and then died is churn, not failure: the next one is asked for at once, every time', async () => {
    const { broker, pipe } = await setup();
    // After two failures in a row the next attempt would wait a minute: far beyond this test's steps.
    const path = new ClientPath(
      {
        pipeUrl: pipe.url,
        token: 'tok-1',
        brokerUrl: broker.url,
        exit,
        limits: { ...fastRetries, retryDelayMs: 60_000, maxRetryDelayMs: 60_000, stablePathBytes: 64 * 1024 },
      },
      nodeEnvironment,
      { onPathEvent: () => undefined, onSession: () => undefined },
    );
    cleanups.push(() => path.stop());
    path.start();
    for (let death = 1; death <= 3; death++) {
      await waitFor(() => pipe.count('path-up') === death, `path ${death}`, STEP);
      const before = pipe.records.length;
      pipe.send(pipe.pathUp(death - 1), Buffer.alloc(100 * 1024, death));
      await waitFor(() => pipe.records.length > before, `path ${death} to carry 200 KiB both ways`, STEP);
      const serving = broker.volunteers.at(-1);
      serving?.close();
      await waitFor(() => pipe.count('path-down') === death, `path ${death} to go down`, STEP);
    }
    await waitFor(() => pipe.count('path-up') === 4, 'a fourth path, asked for at once', STEP);
  });

  test('with two paths: the second avoids the first volunteer and stands by; one going away is replaced, and the other carries on', async () => {
    const { broker, pipe, path, events } = await setup('tok-1', { pathCount: 2 });
    path.start();
    await waitFor(() => pipe.count('path-up') === 2, 'two paths up', STEP);
    const ups = pipe.texts.filter((text) => text.type === 'path-up');
    assert.deepEqual(
      ups.map((text) => text.role),
      ['carry', 'standby'],
    );
    assert.notEqual(ups[0]?.pathId, ups[1]?.pathId);
    // The answer that made the second path came to a request avoiding an earlier volunteer (the first path's).
    const second = broker.answers.at(-1);
    assert.equal(second?.avoid?.length, 1, JSON.stringify(broker.answers));
    assert.ok(
      broker.answers.some((answer) => answer !== second && answer.volunteer === second?.avoid?.[0]),
      JSON.stringify(broker.answers),
    );
    // Each path's records go through its own volunteer and come back with its id.
    pipe.send(pipe.pathUp(0), Buffer.from('one'));
    pipe.send(pipe.pathUp(1), Buffer.from('two'));
    await waitFor(() => pipe.records.length === 2, 'both echoed', STEP);
    assert.deepEqual(
      pipe.records.map((record) => `${record[0]}:${String(record.subarray(1))}`).sort(),
      [`${pipe.pathUp(0)}:one`, `${pipe.pathUp(1)}:two`].sort(),
    );

    const standbyVolunteer = broker.volunteers.at(-1);
    standbyVolunteer?.close();
    await waitFor(() => pipe.count('path-down') === 1 && pipe.count('path-up') === 3, 'the standby replaced', STEP);
    assert.equal(pipe.texts.find((text) => text.type === 'path-down')?.pathId, pipe.pathUp(1));
    const down = events.find((event) => event.kind === 'down');
    assert.deepEqual(down && down.kind === 'down' && down.pathsUp, 1, 'the carrying path was still up');
    assert.equal(path.pathsUp, 2);
  });

  test('striping: every path carries', async () => {
    const { pipe, path } = await setup('tok-1', { pathCount: 2, stripe: true });
    path.start();
    await waitFor(() => pipe.count('path-up') === 2, 'two paths up', STEP);
    assert.deepEqual(
      pipe.texts.filter((text) => text.type === 'path-up').map((text) => text.role),
      ['carry', 'carry'],
    );
  });

  test('stop closes the pipe and reports nothing more; a closed pipe is reported once', async () => {
    const first = await setup();
    first.path.start();
    await waitFor(() => first.pipe.count('path-up') === 1, 'the first path', STEP);
    const eventsBefore = first.events.length;
    first.path.stop();
    await waitFor(() => first.pipe.closed, 'the pipe to close', STEP);
    assert.equal(first.events.length, eventsBefore);

    const second = await setup('tok-2');
    second.path.start();
    await waitFor(() => second.pipe.count('path-up') === 1, 'the second client path', STEP);
    second.pipe.socket?.close(1011, 'helper restarting');
    await waitFor(() => second.events.some((event) => event.kind === 'pipe-closed'), 'pipe-closed', STEP);
    assert.match(JSON.stringify(second.events.at(-1)), /1011/);
  });

  test('back-off: none for the first attempt and the first retry, then doubling up to the cap', () => {
    const limits = { retryDelayMs: 3_000, maxRetryDelayMs: 30_000 };
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6, 100].map((failures) => retryDelayFor(failures, limits)),
      [0, 0, 3_000, 6_000, 12_000, 24_000, 30_000, 30_000],
    );
  });

  test('a number of paths outside 1 to 3 is refused up front', () => {
    for (const pathCount of [0, 4, 1.5]) {
      assert.throws(
        () =>
          new ClientPath({ pipeUrl: 'ws://127.0.0.1:1/pipe', token: 't', brokerUrl: 'http://127.0.0.1:1', exit, pathCount }, nodeEnvironment, {
            onPathEvent: () => undefined,
            onSession: () => undefined,
          }),
        /from 1 to 3/,
      );
    }
  });

  test('unusable limits are refused up front', () => {
    assert.throws(
      () =>
        new ClientPath(
          { pipeUrl: 'ws://127.0.0.1:1/pipe', token: 't', brokerUrl: 'http://127.0.0.1:1', exit, limits: { maxBufferedBytes: 0 } },
          nodeEnvironment,
          {
            onPathEvent: () => undefined,
            onSession: () => undefined,
          },
        ),
      ClientPathConfigError,
    );
  });
});
