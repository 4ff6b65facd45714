/**
 * @module tun/tun-device
 * A Linux TUN device as the helper uses it: attached by name through Ferry's small addon (native/tun; Node has no
 * ioctl), its packets delivered in batches from Node's own loop, packets written back with one write(2) each. The
 * helper attaches to a device the privileged service created for its user; it never creates one itself.
 */
import { closeSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

/** Where scripts/build-native.js writes the addon. */
export const NATIVE_TUN_PATH = new URL('../../native/tun/build/ferry_tun.node', import.meta.url).pathname;

type ReaderHandle = { readonly __brand: 'TunReader' };

interface FerryTunAddon {
  openTun(name: string): number;
  startReading(fd: number, onPackets: (error: Error | null, packets: Buffer[]) => void): ReaderHandle;
  stopReading(handle: ReaderHandle): void;
  peerUid(fd: number): number;
}

/** The device cannot be used: the addon is not built, or the device is missing or not this user's. */
export class TunUnavailableError extends Error {
  override readonly name = 'TunUnavailableError';
  constructor(
    readonly code: 'TUN_ADDON_MISSING' | 'TUN_ATTACH_FAILED',
    message: string,
  ) {
    super(message);
  }
}

let loaded: FerryTunAddon | undefined;

function addon(): FerryTunAddon {
  if (loaded !== undefined) return loaded;
  try {
    loaded = createRequire(import.meta.url)(NATIVE_TUN_PATH) as FerryTunAddon;
    return loaded;
  } catch (error) {
    throw new TunUnavailableError(
      'TUN_ADDON_MISSING',
      `the TUN addon is not built (${error instanceof Error ? error.message : String(error)}): run "npm run build:native" (it needs g++ and Node's headers)`,
    );
  }
}

export class TunDevice {
  readonly #fd: number;
  #reader: ReaderHandle | undefined;
  #closed = false;
  /** Packets dropped because the kernel's queue for the device was full (write returned EAGAIN). */
  writeDrops = 0;

  private constructor(
    readonly name: string,
    fd: number,
  ) {
    this.#fd = fd;
  }

  /** Attaches to the existing TUN device `name`. Throws TunUnavailableError saying why it cannot. */
  static attach(name: string): TunDevice {
    const native = addon();
    try {
      return new TunDevice(name, native.openTun(name));
    } catch (error) {
      throw new TunUnavailableError('TUN_ATTACH_FAILED', error instanceof Error ? error.message : String(error));
    }
  }

  /** Delivers every packet read, in batches, until close(); `onError` once if reading fails (then reading stops). */
  onPackets(onBatch: (packets: Buffer[]) => void, onError: (error: Error) => void): void {
    if (this.#reader !== undefined || this.#closed) throw new Error('a TUN device is read by one reader, once');
    const native = addon();
    this.#reader = native.startReading(this.#fd, (error, packets) => {
      if (packets.length > 0) onBatch(packets);
      if (error !== null) {
        this.#stopReading();
        onError(error);
      }
    });
  }

  /** Hands one IP packet to the kernel. A full queue drops it (counted), as a full NIC would: TCP sends it again. */
  write(packet: Uint8Array): void {
    if (this.#closed) return;
    try {
      writeSync(this.#fd, packet);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      this.writeDrops += 1;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#stopReading();
    this.#closed = true;
    closeSync(this.#fd);
  }

  #stopReading(): void {
    if (this.#reader === undefined) return;
    addon().stopReading(this.#reader);
    this.#reader = undefined;
  }
}

/**
 * The user id of the process at the other end of a Unix socket connection (SO_PEERCRED, through the addon). Node
 * keeps the descriptor in the socket's handle and has no public way to it; undefined when there is none (the socket
 * closed already), which the caller treats as "not allowed".
 */
export function peerUidOf(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return undefined;
  return addon().peerUid(fd);
}
