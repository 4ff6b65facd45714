// Test helper: a ClientSession speaking to a real exit over a real WebSocket (what a volunteer would carry).
import { WebSocket } from 'ws';
import { nodeChaCha20Poly1305 } from '../../../protocol/adapters/node-aead.ts';
import { ClientSession, fromBase64Url } from '../../../protocol/index.ts';

/** `localAddress`: the volunteer's source address, e.g. '127.0.0.2' (Linux routes all of 127/8 to lo). */
export async function connectClient(
  url: string,
  publicKey: string,
  options: { localAddress?: string } = {},
): Promise<{ session: ClientSession; socket: WebSocket }> {
  const socket = new WebSocket(url, options.localAddress === undefined ? {} : { localAddress: options.localAddress });
  socket.binaryType = 'nodebuffer';
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const session = new ClientSession({
    exitPublicKey: fromBase64Url(publicKey),
    aead: nodeChaCha20Poly1305,
    sendRecord: (record) => socket.send(record),
  });
  socket.on('message', (data: Buffer) => session.receiveRecord(new Uint8Array(data)));
  socket.on('close', () => session.transportLost('socket closed'));
  session.start();
  await session.whenOpen();
  return { session, socket };
}
