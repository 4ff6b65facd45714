// Child-process entry for the rendezvous lab: the cache stand-in (harness/cdn-stand-ins.ts) inside a namespace, on
// ADDRESS:443 with the certificate files given, in front of the broker at UPSTREAM. Prints {"ready": true} once it
// listens, then one JSON line per request it answered (its log), until it is ended.
import { readFileSync } from 'node:fs';
import { startCacheStandIn } from '../../../harness/cdn-stand-ins.ts';

const [address = '', certPath = '', keyPath = '', upstream = '', upstreamHost = ''] = process.argv.slice(2);
await startCacheStandIn({
  certificate: { certPath, keyPath, certPem: readFileSync(certPath, 'utf8'), keyPem: readFileSync(keyPath, 'utf8') },
  upstream,
  upstreamHost,
  address,
  port: 443,
  onLog: (entry) => process.stdout.write(`${JSON.stringify(entry)}\n`),
});
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
