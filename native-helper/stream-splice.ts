/**
 * @module stream-splice
 * Joins a local client socket and a tunnel stream both ways, with backpressure (stream.pipeline), half-close (the
 * end of one side's input becomes end() on the other's output) and shared fate (if either fails, both are destroyed).
 */

import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream';

/**
 * Pipes `client` <-> `tunnel` until both directions are done. `onDone` runs once, with the first error if either
 * direction failed. The client socket must allow half-open connections (net server `allowHalfOpen: true`), or its
 * FIN would end our writes too early.
 */
export function spliceStreams(client: Duplex, tunnel: Duplex, onDone: (error: Error | null) => void): void {
  let directionsOpen = 2;
  let firstError: Error | null = null;
  const finishDirection = (error: Error | null | undefined): void => {
    if (error && !firstError) {
      firstError = error;
      // pipeline destroys the two streams of the failed direction; the other direction must stop as well.
      client.destroy();
      tunnel.destroy();
    }
    directionsOpen -= 1;
    if (directionsOpen === 0) {
      // Both directions ended cleanly: make sure neither stream lingers (a tunnel stream may not auto-destroy).
      client.destroy();
      tunnel.destroy();
      onDone(firstError);
    }
  };
  pipeline(client, tunnel, finishDirection);
  pipeline(tunnel, client, finishDirection);
}
