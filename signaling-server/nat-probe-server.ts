/**
 * @module nat-probe-server
 * `ferry nat-probe`: the probe peer browser volunteers learn their NAT class from (protocol/nat-probe.ts). Run it on a
 * host behind a symmetric NAT (with the network's STUN server, so its answer carries its server-reflexive
 * candidate): a volunteer whose data channel to it opens has a NAT that lets such peers in.
 *
 * Each POST answers one offer with a node-datachannel peer that lives NAT_PROBE_PEER_LIFETIME_MS and then closes.
 * Every limit is named: body size and read time, peers alive at once, probes per address per minute.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RTCPeerConnection as NodeRTCPeerConnection } from 'node-datachannel/polyfill';
import { AddressRateLimit } from '../protocol/address-budget.ts';
import { NAT_PROBE_CHANNEL_LABEL, NAT_PROBE_GATHERING_TIMEOUT_MS, NAT_PROBE_PATH, NAT_PROBE_PEER_LIFETIME_MS } from '../protocol/nat-probe.ts';
import { parseSessionDescription, SignalingFormatError } from '../protocol/signaling.ts';
import { BodyReadTimeoutError, BodyTooLargeError, BrokerHttpError, ClientGoneError } from './errors.ts';
import { readBodyText } from './http-body.ts';

/** Largest probe request body (bytes): an offer SDP is a few KB. */
export const MAX_PROBE_BODY_BYTES = 64 * 1024;
/** Longest the body may take to arrive (ms). */
export const PROBE_BODY_READ_TIMEOUT_MS = 5_000;
/** Probe peers alive at once; more get 503 with Retry-After (each holds a few sockets for NAT_PROBE_PEER_LIFETIME_MS). */
export const MAX_PROBE_PEERS = 500;
/** Probes one address may start per minute; more get 429. A volunteer probes about once an hour. */
export const MAX_PROBES_PER_ADDRESS_PER_MINUTE = 10;
/** Addresses whose probe rate is remembered at once. */
const MAX_TRACKED_ADDRESSES = 100_000;

export interface NatProbeServerOptions {
  host: string;
  port: number;
  /** STUN servers for the probe peer's own candidates (stun: URLs). */
  stunUrls: readonly string[];
}

export class NatProbeServer {
  readonly #options: NatProbeServerOptions;
  readonly #server: Server;
  readonly #peers = new Set<NodeRTCPeerConnection>();
  readonly #perAddress = new AddressRateLimit({ maxPerMinute: MAX_PROBES_PER_ADDRESS_PER_MINUTE, maxTrackedAddresses: MAX_TRACKED_ADDRESSES });

  constructor(options: NatProbeServerOptions) {
    this.#options = options;
    this.#server = createServer((request, response) => {
      this.#handle(request, response).catch(() => {
        if (!response.headersSent) reply(response, 500, { error: { code: 'INTERNAL_ERROR', message: 'the probe failed; try again later' } });
        else response.destroy();
      });
    });
  }

  /** Peers answering a probe right now. */
  get peersAlive(): number {
    return this.#peers.size;
  }

  async listen(): Promise<{ host: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.port, this.#options.host, () => resolve());
    });
    const address = this.#server.address() as AddressInfo;
    return { host: address.address, port: address.port };
  }

  async close(): Promise<void> {
    for (const peer of this.#peers) peer.close();
    this.#peers.clear();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? '/', 'http://probe').pathname;
    if (path !== NAT_PROBE_PATH) {
      reply(response, 404, { error: { code: 'NOT_FOUND', message: `the probe serves POST ${NAT_PROBE_PATH}` } });
      return;
    }
    if (request.method === 'OPTIONS') {
      response.writeHead(204, { ...CORS, 'Content-Length': '0' }).end();
      return;
    }
    if (request.method !== 'POST') {
      reply(response, 405, { error: { code: 'METHOD_NOT_ALLOWED', message: `${NAT_PROBE_PATH} takes POST` } }, { Allow: 'POST, OPTIONS' });
      return;
    }
    if (!this.#perAddress.take(request.socket.remoteAddress ?? 'unknown')) {
      reply(
        response,
        429,
        { error: { code: 'TOO_MANY_REQUESTS', message: 'this address probes too often; a volunteer needs one probe an hour' } },
        { 'Retry-After': '60' },
      );
      return;
    }
    if (this.#peers.size >= MAX_PROBE_PEERS) {
      reply(response, 503, { error: { code: 'BUSY', message: 'the probe is busy; try again in a minute' } }, { 'Retry-After': '60' });
      return;
    }
    let offer: RTCSessionDescriptionInit;
    try {
      const text = await readBodyText(request, { maxBodyBytes: MAX_PROBE_BODY_BYTES, bodyReadTimeoutMs: PROBE_BODY_READ_TIMEOUT_MS });
      offer = parseSessionDescription((JSON.parse(text) as { offer?: unknown } | null)?.offer, 'offer', 'offer');
    } catch (error) {
      if (error instanceof ClientGoneError) return void response.destroy();
      const status = error instanceof BodyTooLargeError ? 413 : error instanceof BodyReadTimeoutError ? 408 : 400;
      const message =
        error instanceof SignalingFormatError || error instanceof BrokerHttpError ? error.message : 'send {"offer": {"type": "offer", "sdp": "v=0..."}}';
      reply(response, status, { error: { code: 'BAD_REQUEST', message } });
      return;
    }
    const answer = await this.#answer(offer);
    reply(response, 200, { answer });
  }

  /** A peer that accepts only the probe's channel, answers, and closes itself after its lifetime. */
  async #answer(offer: RTCSessionDescriptionInit): Promise<{ type: 'answer'; sdp: string }> {
    const iceServers = this.#options.stunUrls.length > 0 ? [{ urls: [...this.#options.stunUrls] }] : [];
    const peer = new NodeRTCPeerConnection({ iceServers });
    this.#peers.add(peer);
    const end = (): void => {
      this.#peers.delete(peer);
      peer.close();
    };
    setTimeout(end, NAT_PROBE_PEER_LIFETIME_MS).unref();
    peer.ondatachannel = (event) => {
      if (event.channel.label !== NAT_PROBE_CHANNEL_LABEL) event.channel.close();
    };
    try {
      await peer.setRemoteDescription(offer);
      await peer.setLocalDescription(await peer.createAnswer());
      await gathered(peer);
      const local = peer.localDescription;
      if (local === null) throw new Error('no local description');
      return { type: 'answer', sdp: local.sdp };
    } catch (error) {
      end();
      throw error;
    }
  }
}

const CORS = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Allow-Methods': 'POST, OPTIONS', 'Access-Control-Allow-Headers': 'content-type' };

function reply(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response
    .writeHead(status, {
      ...CORS,
      ...headers,
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(text)),
      'Cache-Control': 'no-store',
    })
    .end(text);
}

function gathered(peer: NodeRTCPeerConnection): Promise<void> {
  if (peer.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, NAT_PROBE_GATHERING_TIMEOUT_MS);
    peer.onicegatheringstatechange = () => {
      if (peer.iceGatheringState === 'complete') {
        clearTimeout(timer);
        resolve();
      }
    };
  });
}
