import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { NativeHostManifest } from '../../../native-helper/install.ts';
import { InstallError, installNativeHost, REPO_ROOT, uninstallNativeHost } from '../../../native-helper/install.ts';
import { RELAYING_NODE_FLAGS } from '../../../protocol/adapters/node-flags.ts';
import { FERRY_EXTENSION_ID } from '../../../protocol/local-channel.ts';

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

describe('installNativeHost', () => {
  let tmp: string;
  before(async () => {
    // A quote and a space in the path check the launcher's shell quoting.
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry install 'test' "));
  });
  after(() => rm(tmp, { recursive: true, force: true }));

  test('with --user-data-dir: manifest and executable launcher in <dir>/NativeMessagingHosts only', async () => {
    const userDataDir = path.join(tmp, 'profile');
    const installed = await installNativeHost({ userDataDir, homeDir: path.join(tmp, 'home') });
    const dir = path.join(userDataDir, 'NativeMessagingHosts');
    assert.deepEqual(installed.manifestPaths, [path.join(dir, 'org.ferry.helper.json')]);
    const manifest = JSON.parse(await readFile(installed.manifestPaths[0]!, 'utf8')) as NativeHostManifest;
    assert.equal(manifest.name, 'org.ferry.helper');
    assert.equal(manifest.type, 'stdio');
    assert.deepEqual(manifest.allowed_origins, [`chrome-extension://${FERRY_EXTENSION_ID}/`]);
    assert.ok(path.isAbsolute(manifest.path));
    assert.equal(manifest.path, installed.launcherPaths[0]);
    assert.equal((await stat(manifest.path)).mode & 0o111, 0o111, 'the launcher is executable');
    const script = await readFile(manifest.path, 'utf8');
    assert.ok(script.startsWith('#!/bin/sh\n'));
    assert.ok(script.includes(process.execPath));
    assert.ok(script.includes(path.join(REPO_ROOT, 'bin', 'ferry.js')));
    assert.equal(await exists(path.join(tmp, 'home', '.config')), false, 'nothing is written to the home folder');
  });

  test("the launcher runs <node> --initial-old-space-size=64 <repo>/bin/ferry.js helper --native with the browser's arguments", async () => {
    // A stand-in checkout whose bin/ferry.js prints its arguments, in a path that needs quoting.
    const repoRoot = path.join(tmp, "fake repo's root");
    await mkdir(path.join(repoRoot, 'bin'), { recursive: true });
    await writeFile(path.join(repoRoot, 'bin', 'ferry.js'), 'process.stdout.write(JSON.stringify([...process.execArgv, ...process.argv.slice(2)]));\n');
    const installed = await installNativeHost({
      userDataDir: path.join(tmp, 'launch'),
      repoRoot,
      extensionId: 'a'.repeat(32),
      helperFlags: ['--path-silence-ms', '2000'],
    });
    const origin = `chrome-extension://${'a'.repeat(32)}/`;
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(installed.launcherPaths[0]!, [origin], { timeout: 10_000 }, (error, out, err) =>
        error ? reject(new Error(`${error.message} ${err}`)) : resolve(out),
      );
    });
    // The relaying V8 flags come before the script: node reads them, not the helper.
    assert.deepEqual(JSON.parse(stdout), [...RELAYING_NODE_FLAGS, 'helper', '--native', '--path-silence-ms', '2000', origin]);
    const manifest = JSON.parse(await readFile(installed.manifestPaths[0]!, 'utf8')) as NativeHostManifest;
    assert.deepEqual(manifest.allowed_origins, [origin]);
  });

  test("by default writes into Chromium's and Chrome's per-user folders; uninstall removes both", async () => {
    const homeDir = path.join(tmp, 'home-default');
    const installed = await installNativeHost({ homeDir });
    assert.deepEqual(installed.manifestPaths, [
      path.join(homeDir, '.config/chromium/NativeMessagingHosts/org.ferry.helper.json'),
      path.join(homeDir, '.config/google-chrome/NativeMessagingHosts/org.ferry.helper.json'),
    ]);
    for (const file of [...installed.manifestPaths, ...installed.launcherPaths]) assert.ok(await exists(file), file);
    await uninstallNativeHost({ homeDir });
    for (const file of [...installed.manifestPaths, ...installed.launcherPaths]) assert.equal(await exists(file), false, file);
    await uninstallNativeHost({ homeDir }); // a second uninstall is harmless
  });

  test('a malformed extension ID is refused before anything is written', async () => {
    const userDataDir = path.join(tmp, 'bad-id');
    await assert.rejects(
      installNativeHost({ userDataDir, extensionId: 'not-an-id' }),
      (error: unknown) => error instanceof InstallError && error.code === 'INSTALL_BAD_EXTENSION_ID',
    );
    assert.equal(await exists(userDataDir), false);
  });
});
