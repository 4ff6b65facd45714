import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../../../harness/wait.ts';
import { offerBody, TestNetwork } from './helpers.ts';

const REQUIRED_METRICS = [
  'ferry_broker_volunteers_connected',
  'ferry_broker_volunteer_slots_free',
  'ferry_broker_matches_total',
  'ferry_broker_timeouts_total',
  'ferry_broker_no_volunteers_total',
  'ferry_broker_bad_requests_total',
  'ferry_broker_client_requests_total',
  'ferry_broker_volunteer_answer_timeouts_total',
  'ferry_broker_offer_fallbacks_total',
  'ferry_broker_volunteers_benched_total',
];

/** Parses Prometheus text into name -> value, checking every sample has HELP and TYPE lines before it. */
async function scrape(network: TestNetwork): Promise<Map<string, number>> {
  const response = await network.get('/metrics');
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const values = new Map<string, number>();
  const described = new Set<string>();
  for (const line of (await response.text()).split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) (.+)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') {
        assert.match(meta[3]!, /^(counter|gauge)$/);
        described.add(meta[2]!);
      }
      continue;
    }
    const [name, value] = line.split(' ');
    assert.ok(described.has(name!), `${name} has a TYPE line`);
    values.set(name!, Number(value));
  }
  return values;
}

test('/metrics has every required metric with HELP and TYPE, all zero at start', async (t) => {
  const network = await TestNetwork.start();
  t.after(() => network.close());
  const values = await scrape(network);
  for (const name of REQUIRED_METRICS) assert.equal(values.get(name), 0, name);
});

test('/metrics counts volunteers, slots, matches, timeouts, refusals and bad requests', async (t) => {
  const network = await TestNetwork.start({ clientAnswerTimeoutMs: 300, volunteerAnswerTimeoutMs: 200 });
  t.after(() => network.close());

  await network.postClient('not json'); // bad request
  await network.postClient(offerBody({ exitId: 'nope' })); // bad request (unknown exit)
  await network.postClient(); // no volunteers

  const volunteer = await network.volunteer({ slots: 3 });
  let values = await scrape(network);
  assert.equal(values.get('ferry_broker_volunteers_connected'), 1);
  assert.equal(values.get('ferry_broker_volunteer_slots_free'), 3);

  const matched = network.postClient();
  const offer = await volunteer.nextOffer();
  values = await scrape(network);
  assert.equal(values.get('ferry_broker_volunteer_slots_free'), 2, 'an offer in flight holds a slot');
  assert.equal(values.get('ferry_broker_volunteer_slots_reserved'), 1);
  volunteer.answer(offer.matchId);
  assert.equal((await matched).status, 200);

  const timedOut = network.postClient();
  await volunteer.nextOffer();
  assert.equal((await timedOut).status, 504);

  values = await scrape(network);
  assert.equal(values.get('ferry_broker_client_requests_total'), 5);
  assert.equal(values.get('ferry_broker_bad_requests_total'), 2);
  assert.equal(values.get('ferry_broker_no_volunteers_total'), 1);
  assert.equal(values.get('ferry_broker_matches_total'), 1);
  assert.equal(values.get('ferry_broker_timeouts_total'), 1);
  assert.equal(values.get('ferry_broker_volunteer_answer_timeouts_total'), 1, 'the volunteer had its whole turn and let it pass');
  assert.equal(values.get('ferry_broker_volunteer_slots_free'), 2, 'one slot used by the match; the timed-out one came back');
  assert.equal(values.get('ferry_broker_clients_pending'), 0);

  volunteer.socket.close();
  await volunteer.closedBy();
  // The broker may see the close a moment after the volunteer does; wait for it by polling, within a bound.
  await waitFor(async () => (await network.broker.metrics()).volunteersConnected === 0, 'the broker to forget the closed volunteer', {
    timeoutMs: 5_000,
    intervalMs: 20,
  });
  values = await scrape(network);
  assert.equal(values.get('ferry_broker_volunteer_slots_free'), 0);
});

test('neither the log nor /metrics carries an address', async (t) => {
  const events: string[] = [];
  const network = await TestNetwork.start({ maxBodyBytes: 4_096, log: (event) => events.push(event.message) });
  t.after(() => network.close());
  const volunteer = await network.volunteer({});
  volunteer.send(JSON.stringify({ type: 'slots', slots: 1, padding: 'x'.repeat(8_192) }));
  await volunteer.closedBy();
  await network.postClient('not json');
  assert.ok(events.length > 0, 'the oversize message was logged');
  const text = await (await network.get('/metrics')).text();
  for (const output of [...events, text]) assert.doesNotMatch(output, /127\.0\.0\.1|::1|::ffff|\d+\.\d+\.\d+\.\d+/);
});
