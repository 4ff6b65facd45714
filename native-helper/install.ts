/**
 * @module install
 * Registers the helper as Chrome/Chromium's native messaging host `org.ferry.helper` for the current user (Linux):
 * a manifest in each browser's NativeMessagingHosts folder, pointing at a small launcher script that starts
 * `node <repo>/bin/ferry.js helper --native` with absolute paths, so it works from any clone location.
 */
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeFlagsForCommand } from '../protocol/adapters/node-flags.ts';
import { FERRY_EXTENSION_ID, NATIVE_HOST_NAME } from '../protocol/local-channel.ts';

/** The checkout this file belongs to (native-helper/..), whatever directory it was cloned into. */
export const REPO_ROOT = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
export const MANIFEST_FILE_NAME = `${NATIVE_HOST_NAME}.json`;
export const LAUNCHER_FILE_NAME = `${NATIVE_HOST_NAME}-launcher.sh`;
/** Per-user manifest folders on Linux, relative to the home directory. */
export const DEFAULT_BROWSER_CONFIG_DIRS = ['.config/chromium', '.config/google-chrome'] as const;

export class InstallError extends Error {
  override readonly name = 'InstallError';
  constructor(
    message: string,
    readonly code: 'INSTALL_BAD_EXTENSION_ID' | 'INSTALL_BAD_PATH',
  ) {
    super(message);
  }
}

export interface NativeHostLocationOptions {
  /** When the browser runs with --user-data-dir, it reads manifests ONLY from <userDataDir>/NativeMessagingHosts. */
  userDataDir?: string;
  /** Default: os.homedir(). */
  homeDir?: string;
}

export interface InstallNativeHostOptions extends NativeHostLocationOptions {
  /** Default: FERRY_EXTENSION_ID (pinned by the extension manifest's "key"). */
  extensionId?: string;
  /** Node binary the launcher runs. Default: process.execPath (the node running this installer). */
  nodePath?: string;
  /** Checkout whose bin/ferry.js the launcher runs. Default: REPO_ROOT. */
  repoRoot?: string;
  /** Extra `ferry helper --native` flags the launcher passes (e.g. ['--path-silence-ms', '2000'] for tests). */
  helperFlags?: readonly string[];
}

export interface NativeHostManifest {
  name: string;
  description: string;
  path: string;
  type: 'stdio';
  allowed_origins: string[];
}

export interface InstalledNativeHost {
  manifestPaths: string[];
  launcherPaths: string[];
}

/** The NativeMessagingHosts folders to write to (or remove from). */
export function nativeHostDirs(options: NativeHostLocationOptions = {}): string[] {
  if (options.userDataDir !== undefined) return [path.join(path.resolve(options.userDataDir), 'NativeMessagingHosts')];
  const home = options.homeDir ?? os.homedir();
  return DEFAULT_BROWSER_CONFIG_DIRS.map((dir) => path.join(home, dir, 'NativeMessagingHosts'));
}

/** Chrome extension IDs are 32 letters a..p (the hex of a key hash, shifted). */
export function requireExtensionId(id: string): string {
  if (!/^[a-p]{32}$/.test(id)) {
    throw new InstallError(`"${id}" is not a Chrome extension ID (32 letters a-p); copy it from chrome://extensions`, 'INSTALL_BAD_EXTENSION_ID');
  }
  return id;
}

/** Quotes one word for POSIX sh: everything inside single quotes is literal. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

export function launcherScript(nodePath: string, repoRoot: string, helperFlags: readonly string[] = []): string {
  const entry = path.join(repoRoot, 'bin', 'ferry.js');
  return [
    '#!/bin/sh',
    `# Started by the browser as the native messaging host ${NATIVE_HOST_NAME}; the browser passes the caller's origin.`,
    '# Written by `ferry helper --install`; run `ferry helper --uninstall` to remove.',
    // The helper relays every byte of its sessions: the same V8 flags as the exit (protocol/adapters/node-flags.ts).
    `exec ${[nodePath, ...nodeFlagsForCommand('helper'), entry, 'helper', '--native', ...helperFlags].map(shellQuote).join(' ')} "$@"`,
    '',
  ].join('\n');
}

export function nativeHostManifest(launcherPath: string, extensionId: string): NativeHostManifest {
  return {
    name: NATIVE_HOST_NAME,
    description: 'Ferry helper: local SOCKS5/HTTP proxy and pipe for the Ferry extension',
    path: launcherPath,
    type: 'stdio',
    allowed_origins: [`chrome-extension://${extensionId}/`],
  };
}

/** Writes the manifest and its launcher into each folder; returns what it wrote. Overwrites an earlier install. */
export async function installNativeHost(options: InstallNativeHostOptions = {}): Promise<InstalledNativeHost> {
  const extensionId = requireExtensionId(options.extensionId ?? FERRY_EXTENSION_ID);
  const nodePath = options.nodePath ?? process.execPath;
  const repoRoot = options.repoRoot ?? REPO_ROOT;
  for (const [label, value] of [
    ['node path', nodePath],
    ['repository root', repoRoot],
  ] as const) {
    if (!path.isAbsolute(value)) throw new InstallError(`the ${label} must be absolute, got ${value}`, 'INSTALL_BAD_PATH');
  }
  const installed: InstalledNativeHost = { manifestPaths: [], launcherPaths: [] };
  for (const dir of nativeHostDirs(options)) {
    await mkdir(dir, { recursive: true });
    const launcherPath = path.join(dir, LAUNCHER_FILE_NAME);
    await writeFile(launcherPath, launcherScript(nodePath, repoRoot, options.helperFlags), { mode: 0o755 });
    await chmod(launcherPath, 0o755); // writeFile's mode applies only to new files
    const manifestPath = path.join(dir, MANIFEST_FILE_NAME);
    await writeFile(manifestPath, `${JSON.stringify(nativeHostManifest(launcherPath, extensionId), null, 2)}\n`, { mode: 0o644 });
    installed.manifestPaths.push(manifestPath);
    installed.launcherPaths.push(launcherPath);
  }
  return installed;
}

/** Removes the manifest and launcher from each folder; returns the paths it looked at. Missing files are fine. */
export async function uninstallNativeHost(options: NativeHostLocationOptions = {}): Promise<string[]> {
  const removed: string[] = [];
  for (const dir of nativeHostDirs(options)) {
    for (const name of [MANIFEST_FILE_NAME, LAUNCHER_FILE_NAME]) {
      const file = path.join(dir, name);
      await rm(file, { force: true });
      removed.push(file);
    }
  }
  return removed;
}
