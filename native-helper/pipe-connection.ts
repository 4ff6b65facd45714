/**
 * @module pipe-connection
 * One open pipe to the extension's offscreen document, as the tunnel session sees it: binary messages are tunnel
 * records, text messages are validated JSON control messages. Bad control messages are reported and dropped.
 */
import type { Socket } from 'node:net';
import type { RawData, WebSocket } from 'ws';
import { type ExtensionToPipe, type HelperToPipe, PipeCloseCode, parseExtensionToPipe } from '../protocol/local-channel.ts';
import { closeReason } from '../protocol/signaling.ts';
import type { PipeServerLimits } from './config.ts';

/** A control message the helper ignored, and why. */
export interface PipeWarning {
  code: 'PIPE_BAD_CONTROL' | 'PIPE_CONTROL_TOO_LARGE';
  message: string;
}

export interface PipeCloseInfo {
  code: number;
  reason: string;
}

/** What the tunnel session uses; one instance per accepted WebSocket. */
export interface LocalPipe {
  /** Sends one tunnel record as one binary message. Returns false (and sends nothing) once the pipe is closed. */
  sendRecord(record: Uint8Array): boolean;
  /** Sends one control message as JSON text. Returns false once the pipe is closed. */
  sendControl(message: HelperToPipe): boolean;
  onRecord(callback: (record: Uint8Array) => void): void;
  onControl(callback: (message: ExtensionToPipe) => void): void;
  /** Called once the buffered bytes fell back after the socket was full (the underlying socket's 'drain'). */
  onDrain(callback: () => void): void;
  onClose(callback: (info: PipeCloseInfo) => void): void;
  /** Bytes queued for the extension but not yet written to the socket. */
  readonly bufferedAmount: number;
  readonly isOpen: boolean;
  /** Closes with code 4002 and a human-readable reason (at most 123 bytes are sent). */
  close(reason: string): void;
}

export class WebSocketPipe implements LocalPipe {
  private readonly recordCallbacks: Array<(record: Uint8Array) => void> = [];
  private readonly controlCallbacks: Array<(message: ExtensionToPipe) => void> = [];
  private readonly closeCallbacks: Array<(info: PipeCloseInfo) => void> = [];

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket,
    private readonly limits: PipeServerLimits,
    private readonly warn: (warning: PipeWarning) => void,
  ) {
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('error', () => {}); // followed by 'close', which is what the session hears about
    ws.once('close', (code, reason) => {
      const info = { code, reason: reason.toString('utf8') };
      for (const callback of this.closeCallbacks) callback(info);
    });
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  get isOpen(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  sendRecord(record: Uint8Array): boolean {
    if (!this.isOpen) return false;
    this.ws.send(record, { binary: true });
    return true;
  }

  sendControl(message: HelperToPipe): boolean {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(message), { binary: false });
    return true;
  }

  onRecord(callback: (record: Uint8Array) => void): void {
    this.recordCallbacks.push(callback);
  }

  onControl(callback: (message: ExtensionToPipe) => void): void {
    this.controlCallbacks.push(callback);
  }

  onDrain(callback: () => void): void {
    this.socket.on('drain', callback);
  }

  onClose(callback: (info: PipeCloseInfo) => void): void {
    this.closeCallbacks.push(callback);
  }

  close(reason: string): void {
    this.closeWithCode(PipeCloseCode.CLOSED_BY_HELPER, reason);
  }

  /** For the server: close with one of PipeCloseCode. */
  closeWithCode(code: PipeCloseCode, reason: string): void {
    if (this.ws.readyState === this.ws.CLOSED || this.ws.readyState === this.ws.CLOSING) return;
    this.ws.close(code, closeReason(reason));
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    const bytes = toBuffer(data);
    if (isBinary) {
      const record = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (const callback of this.recordCallbacks) callback(record);
      return;
    }
    if (bytes.length > this.limits.maxControlMessageBytes) {
      this.warn({ code: 'PIPE_CONTROL_TOO_LARGE', message: `ignored a ${bytes.length}-byte control message (limit ${this.limits.maxControlMessageBytes})` });
      return;
    }
    let message: ExtensionToPipe;
    try {
      message = parseExtensionToPipe(JSON.parse(bytes.toString('utf8')) as unknown);
    } catch (error) {
      this.warn({ code: 'PIPE_BAD_CONTROL', message: `ignored a bad control message: ${(error as Error).message}` });
      return;
    }
    for (const callback of this.controlCallbacks) callback(message);
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
