// Child-process entry for main.test.ts: runs `ferry broker` with this process's arguments, as cli/main.ts would.
import { runBroker } from '../../../signaling-server/main.ts';

try {
  await runBroker(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
  process.exitCode = 2;
}
