/**
 * @module native-helper/cli
 * `ferry helper`: installs the native host manifest, or runs as the native host the browser starts.
 */
import { HELPER_USAGE, parseHelperArgs } from './main.ts';
import { installNativeHost, uninstallNativeHost } from './install.ts';
import { runNativeHost } from './native-host.ts';

export async function runHelper(argv: string[]): Promise<void> {
  const command = parseHelperArgs(argv);
  switch (command.kind) {
    case 'help':
      process.stdout.write(HELPER_USAGE);
      return;
    case 'install': {
      const installed = await installNativeHost({
        ...(command.userDataDir ? { userDataDir: command.userDataDir } : {}),
        ...(command.extensionId ? { extensionId: command.extensionId } : {}),
      });
      for (const path of installed.manifestPaths) process.stdout.write(`ferry helper: wrote ${path}\n`);
      process.stdout.write('ferry helper: installed; switch "Proxy me" on in the Ferry extension.\n');
      return;
    }
    case 'uninstall': {
      await uninstallNativeHost(command.userDataDir ? { userDataDir: command.userDataDir } : {});
      process.stdout.write('ferry helper: removed the native host manifests.\n');
      return;
    }
    case 'native':
      await runNativeHost(command);
      return;
    case 'proxies':
      throw new Error('the helper carries traffic only through the Ferry extension: install it with "ferry helper --install", then switch "Proxy me" on');
  }
}
