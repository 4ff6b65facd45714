// The client extension's offscreen job, done in Node for integration tests without a browser: hold the helper's
// pipe, get a path through a volunteer from the broker (node-datachannel), and pipe records verbatim.
import { WebSocket } from 'ws';
import { RTCPeerConnection } from 'node-datachannel/polyfill';
import type { ExtensionToPipe } from '../../../protocol/local-channel.ts';

const GATHERING_TIMEOUT_MS = 5_000;
const CHANNEL_OPEN_TIMEOUT_MS = 15_000;

export class NodeClientPath {
  private pipe: WebSocket | undefined;
  private peer: RTCPeerConnection | undefined;
  private channel: RTCDataChannel | undefined;
  /** Control messages the helper sent (need-path, session). */
  readonly controlFromHelper: unknown[] = [];
  /** When true, a lost path is replaced at once (as the extension does). */
  keepPathUp = false;
  private replacing = false;
  /** Paths that came up, in order. */
  pathsUp = 0;

  constructor(private readonly options: { pipeUrl: string; token: string; origin: string; brokerUrl: string; exitId: string }) {}

  async connectPipe(): Promise<void> {
    const pipe = new WebSocket(`${this.options.pipeUrl}?token=${encodeURIComponent(this.options.token)}`, { origin: this.options.origin });
    pipe.binaryType = 'arraybuffer';
    await new Promise<void>((resolve, reject) => {
      pipe.once('open', () => resolve());
      pipe.once('error', reject);
      pipe.once('unexpected-response', (_request, response) => reject(new Error(`pipe refused: HTTP ${response.statusCode}`)));
    });
    pipe.on('message', (data: ArrayBuffer, isBinary: boolean) => {
      if (!isBinary) {
        const message = JSON.parse(Buffer.from(data).toString('utf8')) as { type: string };
        this.controlFromHelper.push(message);
        // What the extension does: the helper says the path went silent, so replace it.
        if (message.type === 'need-path' && this.keepPathUp) void this.replacePath('the helper asked for a new path');
        return;
      }
      const channel = this.channel;
      if (channel?.readyState !== 'open') return;
      try {
        channel.send(data);
      } catch {
        // Closed under our feet (the volunteer died): the helper replays the record through the next path.
        if (this.keepPathUp) void this.replacePath('the data channel closed while sending');
      }
    });
    this.pipe = pipe;
  }

  private control(message: ExtensionToPipe): void {
    this.pipe?.send(JSON.stringify(message));
  }

  /** Asks the broker for a volunteer. Resolves 'up', or the broker's error code (also reported to the helper). */
  async getPath(): Promise<'up' | string> {
    try {
      return await this.tryPath();
    } catch (error) {
      // A failed attempt (time-out, refused answer) must not leave its peer connection open.
      this.closePeer();
      throw error;
    }
  }

  private async tryPath(): Promise<'up' | string> {
    if (this.closed) return 'CLOSED';
    const peer = new RTCPeerConnection({ iceServers: [] }) as unknown as RTCPeerConnection;
    this.peer = peer;
    const channel = peer.createDataChannel('ferry', { ordered: true });
    channel.binaryType = 'arraybuffer';
    this.channel = channel;
    const abandon = (): string => {
      // close() ran while this attempt was under way: leave no peer connection behind.
      peer.close();
      return 'CLOSED';
    };
    await peer.setLocalDescription(await peer.createOffer());
    if (this.closed) return abandon();
    await within(GATHERING_TIMEOUT_MS, 'ICE gathering', new Promise<void>((resolve) => {
      const check = (): void => {
        if (peer.iceGatheringState === 'complete') resolve();
      };
      peer.addEventListener('icegatheringstatechange', check);
      check();
    }));
    if (this.closed) return abandon();
    const local = peer.localDescription;
    const response = await fetch(`${this.options.brokerUrl}/v1/client`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ offer: { type: 'offer', sdp: local?.sdp }, exitId: this.options.exitId, nat: 'unknown' }),
    });
    const body = (await response.json()) as { answer?: { type: 'answer'; sdp: string }; error?: { code: string; message: string } };
    if (!response.ok || !body.answer) {
      const code = body.error?.code ?? `HTTP_${response.status}`;
      this.control({ type: 'path-error', code, message: body.error?.message ?? 'no answer' });
      this.closePeer();
      return code;
    }
    if (this.closed) return abandon();
    await peer.setRemoteDescription(body.answer);
    await within(CHANNEL_OPEN_TIMEOUT_MS, 'the data channel to open', new Promise<void>((resolve) => {
      if (channel.readyState === 'open') resolve();
      channel.addEventListener('open', () => resolve());
    }));
    if (this.closed) return abandon();
    channel.addEventListener('message', (event) => this.pipe?.send((event as MessageEvent<ArrayBuffer>).data));
    channel.addEventListener('close', () => {
      if (this.channel !== channel) return;
      this.control({ type: 'path-down', reason: 'the data channel closed' });
      if (this.keepPathUp) void this.replacePath('the data channel closed');
    });
    this.control({ type: 'path-up' });
    this.pathsUp++;
    return 'up';
  }

  /** Drops the current path (if any) and gets another, retrying while volunteers are missing. */
  async replacePath(reason: string): Promise<void> {
    if (this.replacing) return;
    this.replacing = true;
    try {
      if (this.channel) {
        this.channel = undefined;
        this.control({ type: 'path-down', reason });
      }
      this.closePeer();
      for (let attempt = 0; attempt < 40 && this.keepPathUp; attempt++) {
        const outcome = await this.getPath().catch((error: unknown) => String(error));
        if (outcome === 'up') return;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    } finally {
      this.replacing = false;
    }
  }

  private closePeer(): void {
    this.peer?.close();
    this.peer = undefined;
    this.channel = undefined;
  }

  private closed = false;

  close(): void {
    this.closed = true;
    this.keepPathUp = false;
    this.closePeer();
    this.pipe?.close();
  }
}

function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    }),
  ]);
}
