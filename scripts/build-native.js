#!/usr/bin/env node
// Builds Ferry's one native addon, native/aead (ChaCha20-Poly1305 sealing into a given buffer and opening in place,
// through the OpenSSL inside the node binary), with the C++ compiler and Node's own headers: no node-gyp, no Python,
// no download. Skipped when the addon is newer than its source. When there is no compiler or no headers it says so
// and exits 0: the Node edges then use node:crypto, slower at the exit's rates but the same cipher.
// Usage: node scripts/build-native.js [--force] [--required]   (--required: exit 1 when it cannot build)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const source = join(root, 'native', 'aead', 'ferry_aead.cc');
const output = join(root, 'native', 'aead', 'build', 'ferry_aead.node');
const force = process.argv.includes('--force');
const required = process.argv.includes('--required');
const say = (line) => console.log(`build-native: ${line}`);

function giveUp(why) {
  say(`${why}; the exit and the helper will use node:crypto for ChaCha20-Poly1305 instead`);
  process.exit(required ? 1 : 0);
}

if (!force && existsSync(output) && statSync(output).mtimeMs >= statSync(source).mtimeMs) process.exit(0);

// Node's headers: next to the binary (/usr/bin/node -> /usr/include/node), or where the release tarball puts them.
const headers = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node'].find(
  (dir) => existsSync(join(dir, 'node_api.h')) && existsSync(join(dir, 'openssl', 'evp.h')),
);
if (headers === undefined) giveUp("Node's C headers (node_api.h, openssl/evp.h) were not found");
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
      '-DNODE_GYP_MODULE_NAME=ferry_aead',
      `-I${headers}`,
      source,
      '-o',
      temporary,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
} catch (error) {
  giveUp(`${compiler} could not build native/aead (${error.code === 'ENOENT' ? 'no compiler' : `exit ${error.status}`})`);
}
// Renamed into place whole: a process loading the addon meanwhile never sees half a file.
renameSync(temporary, output);
say(`built ${output.slice(root.length + 1)}`);
