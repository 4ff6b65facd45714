import assert from 'node:assert/strict';
import net from 'node:net';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';
import { LocalOperator } from '../../../harness/operator.ts';
import { ListenError } from '../../../native-helper/listen.ts';
import { startLocalProxies } from '../../../native-helper/local-proxies.ts';
import { HelperUsageError, parseHelperArgs } from '../../../native-helper/main.ts';
import { pipeOriginFromCallerOrigin } from '../../../native-helper/native-host.ts';
import { FERRY_EXTENSION_ID } from '../../../protocol/local-channel.ts';
import { DirectTestDialer } from './direct-test-dialer.ts';
import { RawClient, startEchoOrigin, unusedPort } from './loopback-fixtures.ts';

const KEY = new LocalOperator().exitListKey;
const KEY2 = new LocalOperator().exitListKey;

describe('parseHelperArgs', () => {
  test('modes and options', () => {
    assert.deepEqual(parseHelperArgs([]), { kind: 'proxies', socksPort: 1080, httpPort: 8080 });
    assert.deepEqual(parseHelperArgs(['--socks-port', '0', '--http-port=9000']), { kind: 'proxies', socksPort: 0, httpPort: 9000 });
    assert.deepEqual(parseHelperArgs(['--help']), { kind: 'help' });
    assert.deepEqual(parseHelperArgs(['--install']), { kind: 'install', exitListKeys: [] });
    assert.deepEqual(parseHelperArgs(['--install', '--user-data-dir', '/tmp/p', '--extension-id', 'b'.repeat(32), '--exit-list-key', KEY]), {
      kind: 'install',
      exitListKeys: [KEY],
      userDataDir: '/tmp/p',
      extensionId: 'b'.repeat(32),
    });
    assert.deepEqual(parseHelperArgs(['--uninstall', '--user-data-dir=/tmp/p']), { kind: 'uninstall', userDataDir: '/tmp/p' });
    // The CA file is made absolute: the launcher the browser starts runs elsewhere.
    assert.deepEqual(parseHelperArgs(['--install', '--rendezvous-ca', 'ca.pem']), { kind: 'install', exitListKeys: [], rendezvousCaFile: resolve('ca.pem') });
    assert.throws(() => parseHelperArgs(['--uninstall', '--rendezvous-ca', 'ca.pem']), /--rendezvous-ca does not apply with --uninstall/);
  });

  test('--native takes the caller origin Chrome passes as the first positional argument', () => {
    const origin = `chrome-extension://${FERRY_EXTENSION_ID}/`;
    assert.deepEqual(parseHelperArgs(['--native', origin]), { kind: 'native', callerOrigin: origin, exitListKeys: [], socksPort: 0, httpPort: 0, session: {} });
    assert.deepEqual(parseHelperArgs(['--native', origin, '--parent-window=0']).kind, 'native');
    assert.deepEqual(parseHelperArgs(['--native']), { kind: 'native', callerOrigin: null, exitListKeys: [], socksPort: 0, httpPort: 0, session: {} });
    // The launcher puts its own flags before the origin the browser appends.
    assert.deepEqual(
      parseHelperArgs(['--native', '--exit-list-key', KEY, '--exit-list-key', KEY2, '--heartbeat-ms', '500', '--path-silence-ms', '2000', origin]),
      {
        kind: 'native',
        callerOrigin: origin,
        exitListKeys: [KEY, KEY2],
        socksPort: 0,
        httpPort: 0,
        session: { heartbeatIntervalMs: 500, pathSilenceTimeoutMs: 2_000 },
      },
    );
    assert.equal(pipeOriginFromCallerOrigin(origin), `chrome-extension://${FERRY_EXTENSION_ID}`);
  });

  test('mistakes are HelperUsageErrors that say what is wrong', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--frobnicate'], /unknown option --frobnicate/],
      [['--socks-port'], /needs a value/],
      [['--socks-port', '70000'], /port from 0 to 65535/],
      [['--install', '--native'], /cannot be combined/],
      [['--uninstall', '--extension-id', 'x'], /does not apply with --uninstall/],
      [['--install', '--socks-port', '1'], /does not apply/],
      [['--native', 'https://evil.example/'], /chrome-extension/],
      [['--native', '--path-silence-ms', 'soon'], /whole number of milliseconds/],
      [['--native', '--heartbeat-ms', '1000', '--path-silence-ms', '1500'], /pathSilenceTimeoutMs must be an integer from 2000/],
      [['--install', '--heartbeat-ms', '500'], /does not apply/],
      [['stray'], /unexpected argument stray/],
      [['--native', '--exit-list-key', 'AAAA'], /--exit-list-key: .*32 bytes, got 3/],
      [['--native', '--exit-list-key', 'not base64!'], /--exit-list-key: .*base64url/],
      [['--uninstall', '--exit-list-key', KEY], /--exit-list-key does not apply with --uninstall/],
    ];
    for (const [argv, message] of cases) {
      assert.throws(
        () => parseHelperArgs(argv),
        (error: unknown) => error instanceof HelperUsageError && message.test(error.message),
        argv.join(' '),
      );
    }
  });
});

describe('startLocalProxies', () => {
  test('starts SOCKS5 and HTTP CONNECT on free ports, both carrying streams; close() frees them', async () => {
    const echo = await startEchoOrigin();
    const proxies = await startLocalProxies({ dialer: new DirectTestDialer(), socksPort: 0, httpPort: 0 });
    try {
      const socks = await RawClient.connect(proxies.socksPort);
      socks.write(Uint8Array.of(5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, echo.port >> 8, echo.port & 0xff));
      assert.deepEqual([...(await socks.read(12))].slice(0, 4), [5, 0, 5, 0]);
      socks.socket.end('via socks');
      assert.equal((await socks.readToClose()).toString(), 'via socksbye');
      const http = await RawClient.connect(proxies.httpPort);
      http.write(`CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\n\r\n`);
      assert.equal((await http.read(39)).toString(), 'HTTP/1.1 200 Connection Established\r\n\r\n');
      http.destroy();
    } finally {
      await proxies.close();
      await echo.close();
    }
    await assert.rejects(RawClient.connect(proxies.socksPort), /ECONNREFUSED/);
  });

  test('a port in use fails with a ListenError and leaves nothing listening', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const busyPort = (blocker.address() as net.AddressInfo).port;
    try {
      const socksPort = await unusedPort();
      await assert.rejects(
        startLocalProxies({ dialer: new DirectTestDialer(), socksPort, httpPort: busyPort }),
        (error: unknown) => error instanceof ListenError && error.code === 'EADDRINUSE' && /already in use/.test(error.message),
      );
      await assert.rejects(RawClient.connect(socksPort), /ECONNREFUSED/, 'the SOCKS5 server that did start was closed again');
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});
