#!/usr/bin/env node
// Makes a fresh Debian machine with Node ready for `npm run demo` and `npm test`: installs the npm packages when
// they are missing or stale, Debian's chromium, firefox-esr, curl, nftables and coturn when they are missing, and
// builds the native AEAD addon, the extension (for Chromium and for Firefox) and Ferry's site (the tab page and the
// widget).
// Idempotent and quick when everything is already there.
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const say = (line) => console.log(`setup: ${line}`);

function run(command, args, options = {}) {
  execFileSync(command, args, { cwd: root, stdio: 'inherit', ...options });
}

function which(command) {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// 1. npm packages: install when node_modules is missing or older than the lock file.
const lock = join(root, 'package-lock.json');
const installed = join(root, 'node_modules', '.package-lock.json');
if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs) {
  say('installing npm packages (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

// 2. Debian packages the browser tests and the demo need, the C++ compiler for native/aead, and the NAT lab's routers
// (nft) and STUN server (coturn: turnserver, turnutils_natdiscovery) for tests/integration/nat-discovery.test.ts.
const missing = [];
if (!existsSync(process.env.FERRY_CHROMIUM ?? '/usr/bin/chromium')) missing.push('chromium');
// Chromium's own language files (Debian ships only en-US with chromium): the extension's pages follow the browser's
// language through chrome.i18n, and the screenshot tests show them in Persian.
if (!existsSync('/usr/lib/chromium/locales/fa.pak') && (process.env.FERRY_CHROMIUM ?? '/usr/bin/chromium') === '/usr/bin/chromium')
  missing.push('chromium-l10n');
// The Firefox variant's end-to-end test runs in Debian's Firefox ESR (tests/e2e/firefox-volunteer.test.ts).
if (!existsSync(process.env.FERRY_FIREFOX ?? '/usr/bin/firefox-esr')) missing.push('firefox-esr');
if (!which('curl')) missing.push('curl');
// The native AEAD addon (step 3) is compiled against Node's own headers.
if (!which(process.env.CXX ?? 'g++')) missing.push('g++');
if (!which('nft')) missing.push('nftables');
if (!which('turnserver') || !which('turnutils_natdiscovery')) missing.push('coturn');
// The rendezvous and DTLS labs (tests/integration/rendezvous-lab.test.ts, dtls-fingerprint.test.ts): nginx as the CDN
// a fronted request goes through; Wireshark's dumpcap to capture what a namespace sends, and tshark to read the TLS
// and DTLS hellos a second way, beside our own parser. Their services are never started (see policy-rc.d below).
if (!existsSync('/usr/sbin/nginx')) missing.push('nginx-light');
if (!which('tshark') || !which('dumpcap')) missing.push('tshark');
// Brokers on Redis (the tests start their own redis-server; the package starts no service here).
if (!existsSync(process.env.FERRY_REDIS_SERVER ?? '/usr/bin/redis-server')) missing.push('redis-server');
if (missing.length > 0) {
  const asRoot = process.getuid?.() === 0 ? [] : ['sudo'];
  say(`installing Debian packages: ${missing.join(' ')}`);
  const apt = (args) =>
    asRoot.length
      ? run('sudo', ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args])
      : run('apt-get', args, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  apt(['update', '-qq']);
  // Debian starts a package's service on install (nginx on the machine's own port 80) unless policy-rc.d says no
  // (exit 101). The tests run their own nginx inside a namespace; nothing here may start one on the machine itself.
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !existsSync(policy) && !asRoot.length;
  if (ownPolicy) writeFileSync(policy, "#!/bin/sh\n# written by Ferry's scripts/setup.js during apt-get install\nexit 101\n", { mode: 0o755 });
  try {
    apt(['install', '-y', '-qq', ...missing]);
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
  // Under systemd, Debian's coturn starts a TURN server on the machine's own port 3478 (under sysvinit it stays off,
  // TURNSERVER_ENABLED in /etc/default/coturn). The lab runs its own coturn inside a namespace and needs no service,
  // so switch it off; best effort, as without systemd as init `systemctl` cannot stop anything (nor needs to).
  if (missing.includes('coturn') && which('systemctl')) {
    try {
      const disable = ['systemctl', 'disable', '--now', 'coturn'];
      if (asRoot.length) run('sudo', disable, { stdio: 'ignore' });
      else run(disable[0], disable.slice(1), { stdio: 'ignore' });
    } catch {
      say('could not stop the coturn service (no systemd?); the NAT lab does not use it');
    }
  }
}

// 3. The exit's and the helper's ChaCha20-Poly1305 addon (native/aead; a second, once). Without a compiler it says so
// and they use node:crypto.
run(process.execPath, [join(root, 'scripts', 'build-native.js')]);

// 4. The extension (Vite + crxjs; well under a second each): for Chromium, then the Firefox variant; and Ferry's
// site: the tab page, the widget and embed.js.
const vite = (...args) => run(process.execPath, [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn', ...args]);
say('building the extension into dist/extension');
vite();
say('building the Firefox variant into dist-firefox');
vite('-c', 'vite.firefox.config.ts');
say('building the tab page and the widget into dist-widget');
vite('-c', 'vite.web.config.ts');
vite('-c', 'vite.web.config.ts', '--mode', 'embed');
