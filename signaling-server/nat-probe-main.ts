/**
 * @module nat-probe-main
 * `ferry nat-probe`: runs the NAT probe peer (nat-probe-server.ts), prints one ready line, stops on SIGINT/SIGTERM.
 * Run it behind a symmetric NAT and give its URL to the broker (`ferry broker --nat-probe-url`).
 */
import { parseArgs } from 'node:util';
import { NAT_PROBE_PATH } from '../protocol/nat-probe.ts';
import { requireStunUrls, SignalingFormatError } from '../protocol/signaling.ts';
import { NatProbeServer } from './nat-probe-server.ts';
import { untilStopSignal } from './stop-signal.ts';

const USAGE = `Usage: ferry nat-probe [options]

Answers the NAT probes of browser volunteers (POST ${NAT_PROBE_PATH}). Run it on a host behind a symmetric NAT.

Options:
  --host HOST     address to listen on (default 127.0.0.1)
  --port PORT     TCP port, 0 for any free one (default 8788)
  --stun URL      a STUN server for the probe's own candidates (stun:host:port; repeatable)
  --help          show this text
`;

export class NatProbeUsageError extends Error {
  override readonly name = 'NatProbeUsageError';
  readonly code = 'NAT_PROBE_USAGE';
}

export async function runNatProbe(argv: string[]): Promise<void> {
  let values: { host?: string; port?: string; stun?: string[]; help?: boolean };
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { host: { type: 'string' }, port: { type: 'string' }, stun: { type: 'string', multiple: true }, help: { type: 'boolean' } },
    }).values;
  } catch (error) {
    throw new NatProbeUsageError(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const portText = values.port ?? '8788';
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65_535) throw new NatProbeUsageError(`--port must be a number from 0 to 65535 (got "${portText}")`);
  let stunUrls: string[];
  try {
    stunUrls = requireStunUrls(values.stun ?? []);
  } catch (error) {
    if (error instanceof SignalingFormatError) throw new NatProbeUsageError(`--stun: ${error.message}`);
    throw error;
  }
  const server = new NatProbeServer({ host: values.host ?? '127.0.0.1', port: Number(portText), stunUrls });
  const address = await server.listen();
  const shownHost = address.host.includes(':') ? `[${address.host}]` : address.host;
  // Listening for the stop signal before the ready line: whoever reads it may send SIGTERM at once.
  const stopSignal = untilStopSignal();
  process.stdout.write(`ferry nat-probe: http://${shownHost}:${address.port}${NAT_PROBE_PATH} ready (pid ${process.pid})\n`);
  await stopSignal;
  await server.close();
}
