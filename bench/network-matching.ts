/**
 * @module bench/network-matching
 * Matches per second through one or more `ferry broker` processes: answering volunteers (bench/broker-volunteer.ts)
 * spread over the brokers in turn, then a warm-up of clients that is not counted, then `clients` clients at
 * `concurrency` (bench/client-load.ts), also spread over the brokers in turn. The load generator (volunteers and
 * clients) runs in this process; its CPU and the brokers' (and Redis's) are read over the counted run, with what the
 * rest of the machine used meanwhile.
 */
import type { AnsweringBehaviour } from './broker-volunteer.ts';
import { type ClientLoadResult, runClientLoad } from './client-load.ts';
import { type CpuShare, startCpuWindow } from './process-stats.ts';
import { SourceAddresses } from './source-addresses.ts';
import { joinCrowd } from './volunteer-crowd.ts';

export interface MatchingOptions {
  /** http://HOST:PORT of each broker. */
  brokerUrls: readonly string[];
  brokerPids: readonly number[];
  /** Redis's PID when the brokers share one, for its CPU. */
  redisPid?: number | undefined;
  exitId: string;
  volunteers: number;
  slots: number;
  answering: AnsweringBehaviour;
  warmUpClients: number;
  clients: number;
  concurrency: number;
  /** Second octets of this run's own address blocks: volunteers, warm-up clients, counted clients. */
  addressBlocks: readonly [number, number, number];
}

export interface MatchingResult {
  load: ClientLoadResult;
  matchesPerSecond: number;
  cpu: CpuShare;
  volunteersJoined: number;
  slotsPerVolunteer: number;
  /** Offers the volunteers declined for want of a free slot (the broker's slot count ran ahead of theirs). */
  volunteerDeclines: number;
}

export async function measureMatching(options: MatchingOptions): Promise<MatchingResult> {
  const crowd = await joinCrowd({
    urls: options.brokerUrls.map((url) => `${url.replace(/^http/, 'ws')}/v1/volunteer`),
    count: options.volunteers,
    slots: options.slots,
    perAddress: 1,
    concurrency: 10,
    addresses: new SourceAddresses(options.addressBlocks[0]),
    answering: options.answering,
    timeoutMs: 20_000,
  });
  try {
    if (crowd.volunteers.length < options.volunteers) {
      throw new Error(`only ${crowd.volunteers.length} of ${options.volunteers} answering volunteers joined: ${JSON.stringify([...crowd.refused])}`);
    }
    const common = { brokerUrls: options.brokerUrls, exitId: options.exitId, concurrency: options.concurrency, freeSlots: crowd.freeSlots };
    await runClientLoad({ ...common, clients: options.warmUpClients, addresses: new SourceAddresses(options.addressBlocks[1]) });
    const groups: Record<string, number[]> = { 'load generator': [process.pid] };
    options.brokerPids.forEach((pid, index) => {
      groups[options.brokerPids.length === 1 ? 'broker' : `broker ${index + 1}`] = [pid];
    });
    if (options.redisPid !== undefined) groups.redis = [options.redisPid];
    const window = startCpuWindow(groups);
    const load = await runClientLoad({ ...common, clients: options.clients, addresses: new SourceAddresses(options.addressBlocks[2]) });
    const cpu = window.stop();
    return {
      load,
      matchesPerSecond: load.matches / (load.elapsedMs / 1000),
      cpu,
      volunteersJoined: crowd.volunteers.length,
      slotsPerVolunteer: options.slots,
      volunteerDeclines: crowd.volunteers.reduce((sum, volunteer) => sum + volunteer.declined, 0),
    };
  } finally {
    crowd.terminate();
  }
}
