/**
 * @module cli/demo
 * `ferry demo`: the whole network on this machine. Broker and exit run as their own processes; a volunteer browser
 * switches "Help others" on and a client browser switches "Proxy me" on, both through their popups; the client's
 * browser starts the native helper. Ferry's site (the tab page and the widget) is served from its own origin, and a
 * stand-in website on a second origin embeds the widget with the one line. Visible windows when a display is
 * available, headless otherwise.
 */
import { parseArgs } from 'node:util';
import { defaultExitConfig } from '../exit-server/config.ts';
import { type FerrySite, startDemoHostPage, startFerrySite } from '../harness/ferry-site.ts';
import { LocalNetwork } from '../harness/local-network.ts';
import { type NetworkServers, startServerProcesses } from '../harness/servers.ts';
import { DEFAULT_SOCKS_PORT } from '../native-helper/config.ts';
import { DEFAULT_BROKER_PORT } from '../protocol/signaling.ts';

const DEFAULT_SITE_PORT = 8090;
const DEFAULT_HOST_PAGE_PORT = 8091;

const USAGE = `Usage: ferry demo [options]

Starts a whole Ferry network on this machine and prints one line per component, then
"ferry demo: socks5://127.0.0.1:PORT ready". Point any SOCKS5 client at that port (remote DNS), e.g.
  curl --socks5-hostname 127.0.0.1:PORT https://example.org
Stop it with Ctrl-C (SIGINT) or SIGTERM: every process it started is ended.

Options:
  --volunteers N     volunteer browsers with "Help others" on (default 1)
  --socks-port N     the helper's SOCKS5 port (default ${DEFAULT_SOCKS_PORT}; 0 = any free port)
  --broker-port N    the broker's port (default ${DEFAULT_BROKER_PORT}; 0 = any free port)
  --exit-port N      the exit's port (default ${defaultExitConfig.port}; 0 = any free port)
  --site-port N      Ferry's site: the tab page and the widget (default ${DEFAULT_SITE_PORT}; 0 = any free port)
  --host-port N      a website on a second origin that embeds the widget (default ${DEFAULT_HOST_PAGE_PORT}; 0 = any)
  --headless         no browser windows, even when a display is available
  --help             show this help
`;

/** The most volunteer browsers one machine of this size runs comfortably. */
const MAX_DEMO_VOLUNTEERS = 8;

function port(value: string, flag: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65_535) throw new Error(`${flag} must be a port from 0 to 65535, got "${value}"`);
  return parsed;
}

export async function runDemo(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      volunteers: { type: 'string', default: '1' },
      'socks-port': { type: 'string', default: String(DEFAULT_SOCKS_PORT) },
      'broker-port': { type: 'string', default: String(DEFAULT_BROKER_PORT) },
      'exit-port': { type: 'string', default: String(defaultExitConfig.port) },
      'site-port': { type: 'string', default: String(DEFAULT_SITE_PORT) },
      'host-port': { type: 'string', default: String(DEFAULT_HOST_PAGE_PORT) },
      headless: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const volunteers = Number(values.volunteers);
  if (!Number.isInteger(volunteers) || volunteers < 0 || volunteers > MAX_DEMO_VOLUNTEERS) {
    throw new Error(`--volunteers must be a whole number from 0 to ${MAX_DEMO_VOLUNTEERS}`);
  }
  const headless = values.headless || !process.env.DISPLAY;
  const say = (line: string): void => void process.stdout.write(`ferry demo: ${line}\n`);

  let servers: NetworkServers | undefined;
  let network: LocalNetwork | undefined;
  const sites: FerrySite[] = [];
  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say('stopping');
    await network?.stop().catch(() => {});
    for (const site of sites) await site.close().catch(() => {});
    await servers?.stop().catch(() => {});
    process.exit(code);
  };
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));

  try {
    servers = await startServerProcesses({ brokerPort: port(values['broker-port'], '--broker-port'), exitPort: port(values['exit-port'], '--exit-port') });
    say(`exit ${servers.exit.url} (pid ${servers.exitPid}), public key ${servers.exit.publicKey}`);
    say(`broker ${servers.brokerUrl} (pid ${servers.brokerPid})`);
    const site = await startFerrySite({
      config: { brokerUrl: servers.brokerUrl, exitListKeys: [servers.exitListKey] },
      port: port(values['site-port'], '--site-port'),
    });
    sites.push(site);
    say(`tab page ${new URL('tab/', site.url).href} (open it in any browser to help from a tab)`);
    const host = await startDemoHostPage({ ferrySiteUrl: site.url, port: port(values['host-port'], '--host-port') });
    sites.push(host);
    say(`widget ${host.url} (a website on a second origin that embeds the widget with one line)`);
    network = await LocalNetwork.start({
      servers,
      volunteers,
      headless,
      clientSocksPort: port(values['socks-port'], '--socks-port'),
      log: (line) => say(line),
    });
    const client = await network.client.state();
    say(`client: Chromium pid ${network.client.pid}, Proxy me on, ${await network.client.statusText('proxy-me')}`);
    say(`helper (pid ${client.proxyMe.helperPid}): socks5://127.0.0.1:${client.proxyMe.socksPort}, http://127.0.0.1:${client.proxyMe.httpPort} (HTTP CONNECT)`);
    say(`${headless ? 'headless' : 'browser windows open'}; Ctrl-C stops everything`);
    say(`socks5://127.0.0.1:${client.proxyMe.socksPort} ready`);
  } catch (error) {
    process.stderr.write(`ferry demo: ${error instanceof Error ? error.message : String(error)}\n`);
    await stop(1);
  }
  // Runs until a signal stops it.
  await new Promise(() => {});
}
