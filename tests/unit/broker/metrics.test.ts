import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry, register } from 'prom-client';
import { waitFor } from '../../../harness/wait.ts';
import { BrokerPrometheus, type VolunteerPoolCount } from '../../../signaling-server/prometheus.ts';
import { parsePrometheusText, sampleValue } from '../prometheus-text.ts';
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

/**
 * GETs /metrics and parses it (prom-client's Prometheus text), checking its Content-Type and that every ferry_broker_*
 * family has HELP text and is a counter or gauge. Returns the value of each unlabelled ferry_broker_* metric.
 */
async function scrape(network: TestNetwork): Promise<Map<string, number>> {
  const response = await network.get('/metrics');
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), Registry.PROMETHEUS_CONTENT_TYPE);
  const values = new Map<string, number>();
  for (const family of parsePrometheusText(await response.text()).values()) {
    if (!family.name.startsWith('ferry_broker_')) continue;
    assert.ok(family.help.length > 0, `${family.name} has HELP text`);
    assert.match(family.type, /^(counter|gauge|histogram)$/, family.name);
    for (const sample of family.samples) if (Object.keys(sample.labels).length === 0) values.set(sample.name, sample.value);
  }
  return values;
}

test('/metrics has every required metric with HELP and TYPE, all zero at start', async (t) => {
  const network = await TestNetwork.start();
  t.after(() => network.close());
  const values = await scrape(network);
  for (const name of REQUIRED_METRICS) assert.equal(values.get(name), 0, name);
  const text = await (await network.get('/metrics')).text();
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
    assert.ok(parsePrometheusText(text).has(name), `the process metric ${name} is there too`);
  }
});

test("each broker counts in its own registry, never in prom-client's global one", async (t) => {
  const first = await TestNetwork.start();
  t.after(() => first.close());
  const second = await TestNetwork.start();
  t.after(() => second.close());
  await first.postClient('not json');
  await first.postClient('not json');
  await second.postClient('not json');
  assert.equal((await scrape(first)).get('ferry_broker_bad_requests_total'), 2);
  assert.equal((await scrape(second)).get('ferry_broker_bad_requests_total'), 1);
  assert.equal((await scrape(first)).get('ferry_broker_bad_requests_total'), 2, 'a second scrape shows the same total, not twice it');
  assert.doesNotMatch(await register.metrics(), /ferry_/);
});

test('volunteers and free slots by kind and NAT class, once the store gives them; an emptied pool disappears', async (t) => {
  const network = await TestNetwork.start();
  t.after(() => network.close());
  let pools: VolunteerPoolCount[] = [
    { kind: 'headless', nat: 'unrestricted', volunteers: 2, freeSlots: 7 },
    { kind: 'extension', nat: 'restricted', volunteers: 1, freeSlots: 0 },
  ];
  const prometheus = new BrokerPrometheus({ snapshot: () => network.broker.metrics(), volunteerPools: async () => pools });
  let families = parsePrometheusText(await prometheus.render());
  assert.equal(families.get('ferry_broker_volunteers')?.type, 'gauge');
  assert.equal(sampleValue(families, 'ferry_broker_volunteers', { kind: 'headless', nat: 'unrestricted' }), 2);
  assert.equal(sampleValue(families, 'ferry_broker_volunteers', { kind: 'extension', nat: 'restricted' }), 1);
  assert.equal(sampleValue(families, 'ferry_broker_pool_slots_free', { kind: 'headless', nat: 'unrestricted' }), 7);
  assert.equal(sampleValue(families, 'ferry_broker_pool_slots_free', { kind: 'extension', nat: 'restricted' }), 0);

  pools = [{ kind: 'headless', nat: 'unrestricted', volunteers: 1, freeSlots: 3 }];
  families = parsePrometheusText(await prometheus.render());
  assert.equal(sampleValue(families, 'ferry_broker_volunteers', { kind: 'headless', nat: 'unrestricted' }), 1);
  assert.equal(sampleValue(families, 'ferry_broker_volunteers', { kind: 'extension', nat: 'restricted' }), undefined);
  assert.equal(families.get('ferry_broker_volunteers')?.samples.length, 1);

  const withoutPools = parsePrometheusText(await new BrokerPrometheus({ snapshot: () => network.broker.metrics() }).render());
  assert.equal(withoutPools.has('ferry_broker_volunteers'), false, 'left out until the store can count pools');
  assert.equal(withoutPools.has('ferry_broker_matches_total'), true);
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
  // Every client looked after is one wait, by how it ended; malformed requests are not waits.
  const waits = parsePrometheusText(await (await network.get('/metrics')).text()).get('ferry_broker_client_wait_seconds');
  assert.equal(waits?.type, 'histogram');
  const waitSample = (name: string, outcome: string): number | undefined =>
    waits?.samples.find((sample) => sample.name === `ferry_broker_client_wait_seconds_${name}` && sample.labels.outcome === outcome)?.value;
  for (const outcome of ['answered', 'timed_out', 'no_volunteers']) assert.equal(waitSample('count', outcome), 1, outcome);
  assert.ok((waitSample('sum', 'timed_out') ?? 0) >= 0.25, 'the timed-out client waited its 300 ms');

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
