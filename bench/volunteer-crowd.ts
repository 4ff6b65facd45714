/**
 * @module bench/volunteer-crowd
 * Many volunteers joining brokers at once: `count` BenchVolunteers, `perAddress` of them sharing each source address
 * (under the broker's maxVolunteersPerAddress), at most `concurrency` joining at a time, spread over the given broker
 * URLs in turn. Refusals are counted by reason, not thrown: how many a broker admits is one of the figures.
 */
import { type AnsweringBehaviour, BenchVolunteer, VolunteerRefusedError } from './broker-volunteer.ts';
import type { SourceAddresses } from './source-addresses.ts';

export interface CrowdOptions {
  /** ws://HOST:PORT/v1/volunteer of each broker; volunteer i joins urls[i % urls.length]. */
  urls: readonly string[];
  count: number;
  slots: number;
  perAddress: number;
  concurrency: number;
  addresses: SourceAddresses;
  answering?: AnsweringBehaviour | undefined;
  /** Longest one volunteer's opening and welcome may take (ms). */
  timeoutMs: number;
}

export interface Crowd {
  volunteers: BenchVolunteer[];
  /** Refusals by reason ("HTTP 503", "ECONNRESET", ...). */
  refused: Map<string, number>;
  /** Wall time the whole crowd took to join (ms). */
  elapsedMs: number;
  /** Free slots over every volunteer of the crowd right now. */
  freeSlots(): number;
  terminate(): void;
}

export async function joinCrowd(options: CrowdOptions): Promise<Crowd> {
  const addressOf = options.addresses.takeShared(options.count, options.perAddress);
  const volunteers: BenchVolunteer[] = [];
  const refused = new Map<string, number>();
  const started = performance.now();
  let next = 0;
  const joinOne = async (): Promise<void> => {
    for (;;) {
      const index = next++;
      if (index >= options.count) return;
      try {
        const volunteer = await BenchVolunteer.connect({
          url: options.urls[index % options.urls.length] ?? '',
          localAddress: addressOf(index),
          slots: options.slots,
          answering: options.answering,
          timeoutMs: options.timeoutMs,
        });
        volunteers.push(volunteer);
      } catch (error) {
        const reason = error instanceof VolunteerRefusedError ? error.reason : error instanceof Error ? error.message : String(error);
        refused.set(reason, (refused.get(reason) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, joinOne));
  return {
    volunteers,
    refused,
    elapsedMs: performance.now() - started,
    freeSlots: () => volunteers.reduce((sum, volunteer) => sum + (volunteer.isOpen ? volunteer.freeSlots : 0), 0),
    terminate: () => {
      for (const volunteer of volunteers) volunteer.terminate();
    },
  };
}
