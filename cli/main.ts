/**
 * @module cli/main
 * The `ferry` command: one entry point, one subcommand per part. Each subcommand lives with its part; this file
 * only dispatches (and loads each part lazily, so `ferry exit` does not load Playwright).
 */

const USAGE = `Usage: ferry <command> [options]

Commands:
  demo        start the whole network on this machine: broker, exit, volunteer and client browsers, helper
  broker      run the signaling server that pairs clients with volunteers
  nat-probe   run the NAT probe peer browser volunteers learn their NAT class from
  exit        run an exit server
  exit-list   the operator's signed exit list: make a signing key, sign the exits, check a list
  volunteer   run a headless volunteer (in its own headless Chromium; --engine node-datachannel for none)
  pairing     make a pairing link for a headless volunteer (ferry pairing new --broker URL)
  helper      the native helper: --install writes the browser's native host manifest; --native is run by the browser
  bench       measure throughput and start-up time on this machine

Run "ferry <command> --help" for a command's options.
`;

export type Command = (argv: string[]) => Promise<void>;

const commands: Record<string, () => Promise<Command>> = {
  demo: async () => (await import('./demo.ts')).runDemo,
  broker: async () => (await import('../signaling-server/main.ts')).runBroker,
  'nat-probe': async () => (await import('../signaling-server/nat-probe-main.ts')).runNatProbe,
  exit: async () => (await import('../exit-server/main.ts')).runExit,
  'exit-list': async () => (await import('./exit-list.ts')).runExitList,
  volunteer: async () => (await import('../relay-worker/main.ts')).runVolunteer,
  pairing: async () => (await import('./pairing.ts')).runPairing,
  helper: async () => (await import('../native-helper/main.ts')).runHelper,
  bench: async () => (await import('../bench/run.ts')).runBench,
};

const [commandName, ...rest] = process.argv.slice(2);
if (commandName === undefined || commandName === '--help' || commandName === '-h' || commandName === 'help') {
  process.stdout.write(USAGE);
  process.exit(commandName === undefined ? 1 : 0);
}
const load = commands[commandName];
if (!load) {
  process.stderr.write(`ferry: unknown command "${commandName}"\n\n${USAGE}`);
  process.exit(2);
}
try {
  await (await load())(rest);
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`ferry ${commandName}: ${message}\n`);
  process.exit(1);
}
