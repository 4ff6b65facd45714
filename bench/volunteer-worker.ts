/**
 * @module bench/volunteer-worker
 * Child-process entry (run with `node --import tsx`, forked by bench/idle-crowd.ts): holds part of an idle volunteer
 * crowd, because one process can hold only as many sockets as its open-file limit allows and the broker under test
 * needs as many on its side. Told over IPC what to join ({type: 'join', ...}), it answers {type: 'joined', ...} and
 * keeps the sockets open until its parent ends it (by PID) or disconnects.
 */
import { SourceAddresses } from './source-addresses.ts';
import { joinCrowd } from './volunteer-crowd.ts';

export interface JoinRequest {
  type: 'join';
  url: string;
  count: number;
  slots: number;
  perAddress: number;
  /** This worker's own block of source addresses, 127.`secondOctet`.x.y. */
  secondOctet: number;
  concurrency: number;
  timeoutMs: number;
}

export interface JoinReport {
  type: 'joined';
  admitted: number;
  refused: Array<[reason: string, count: number]>;
  elapsedMs: number;
}

if (process.send !== undefined) {
  process.once('message', (message: JoinRequest) => {
    void joinCrowd({
      urls: [message.url],
      count: message.count,
      slots: message.slots,
      perAddress: message.perAddress,
      concurrency: message.concurrency,
      addresses: new SourceAddresses(message.secondOctet),
      timeoutMs: message.timeoutMs,
    }).then((crowd) => {
      const report: JoinReport = { type: 'joined', admitted: crowd.volunteers.length, refused: [...crowd.refused], elapsedMs: crowd.elapsedMs };
      process.send?.(report);
    });
  });
  // The parent went away: nothing holds these sockets for anyone any more.
  process.once('disconnect', () => process.exit(0));
}
