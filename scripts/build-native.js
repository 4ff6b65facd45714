#!/usr/bin/env node
// Builds Ferry's native addons with the C++ compiler and Node's own headers: no node-gyp, no Python, no download.
// - native/aead: ChaCha20-Poly1305 sealing into a given buffer and opening in place, through the OpenSSL inside the
//   node binary. Without it the exit and the helper use node:crypto: slower at the exit's rates, the same cipher.
// - native/tun: attaching to a Linux TUN device and reading it on Node's loop (the helper's whole-device mode).
//   Without it that mode says it is unavailable and why.
// Each is skipped when it is newer than its source. When there is no compiler or no headers it says so and exits 0.
// Usage: node scripts/build-native.js [--force] [--required]   (--required: exit 1 when one cannot be built)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const force = process.argv.includes('--force');
const required = process.argv.includes('--required');
const say = (line) => console.log(`build-native: ${line}`);

const addons = [
  {
    name: 'ferry_aead',
    folder: 'aead',
    needs: ['node_api.h', join('openssl', 'evp.h')],
    without: 'the exit and the helper will use node:crypto for ChaCha20-Poly1305 instead',
  },
  { name: 'ferry_tun', folder: 'tun', needs: ['node_api.h', 'uv.h'], without: "the helper's whole-device (TUN) mode will say it is unavailable" },
];

let failed = false;
for (const addon of addons) {
  const source = join(root, 'native', addon.folder, `${addon.name}.cc`);
  const output = join(root, 'native', addon.folder, 'build', `${addon.name}.node`);
  const giveUp = (why) => {
    say(`${why}; ${addon.without}`);
    failed = true;
  };
  if (!force && existsSync(output) && statSync(output).mtimeMs >= statSync(source).mtimeMs) continue;
  // Node's headers: next to the binary (/usr/bin/node -> /usr/include/node), or where the release tarball puts them.
  const headers = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node'].find((dir) =>
    addon.needs.every((header) => existsSync(join(dir, header))),
  );
  if (headers === undefined) {
    giveUp(`Node's C headers (${addon.needs.join(', ')}) were not found for native/${addon.folder}`);
    continue;
  }
  const compiler = process.env.CXX ?? 'g++';
  mkdirSync(dirname(output), { recursive: true });
  const temporary = `${output}.${process.pid}.tmp`;
  try {
    execFileSync(
      compiler,
      [
        '-std=c++17',
        '-O2',
        '-fPIC',
        '-shared',
        '-Wall',
        '-Wextra',
        '-DNAPI_VERSION=8',
        `-DNODE_GYP_MODULE_NAME=${addon.name}`,
        `-I${headers}`,
        source,
        '-o',
        temporary,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
  } catch (error) {
    giveUp(`${compiler} could not build native/${addon.folder} (${error.code === 'ENOENT' ? 'no compiler' : `exit ${error.status}`})`);
    continue;
  }
  // Renamed into place whole: a process loading the addon meanwhile never sees half a file.
  renameSync(temporary, output);
  say(`built ${output.slice(root.length + 1)}`);
}
process.exit(failed && required ? 1 : 0);
