import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  capBytesPerSecond,
  DEFAULT_SETTINGS,
  monthlyCapBytes,
  parseBrokerUrl,
  parseBypassList,
  parseSettingsForm,
  parseStoredSettings,
  SettingsError,
  settingsToForm,
} from '../../../extension/settings.ts';

/** This machine, plain (intranet) host names, and the private and link-local ranges. */
const LOCAL_AND_PRIVATE = [
  'localhost',
  '127.0.0.1',
  '[::1]',
  '<local>',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '169.254.0.0/16',
  'fc00::/7',
  'fe80::/10',
];

describe('stored settings', () => {
  test('absent keys take the documented defaults', () => {
    assert.deepEqual(parseStoredSettings({}), {
      brokerUrl: 'http://127.0.0.1:8787',
      exitId: '',
      socksPort: 0,
      bypassList: [...LOCAL_AND_PRIVATE],
      maxClients: 2,
      maxMbps: 0,
      monthlyCapGb: 0,
      exitListKeys: [],
      pauseOnBattery: true,
      pauseOnMetered: true,
      proxyPaths: 2,
      stripePaths: false,
    });
  });

  test('present values are used, and the defaults are not shared mutable state', () => {
    const settings = parseStoredSettings({
      brokerUrl: 'https://broker.example.org/',
      socksPort: 1080,
      bypassList: ['<-loopback>'],
      maxClients: 5,
      maxMbps: 2.5,
      monthlyCapGb: 50,
      exitId: 'x',
      pauseOnBattery: false,
      proxyPaths: 1,
    });
    assert.deepEqual(settings, {
      brokerUrl: 'https://broker.example.org',
      exitId: 'x',
      socksPort: 1080,
      bypassList: ['<-loopback>'],
      maxClients: 5,
      maxMbps: 2.5,
      monthlyCapGb: 50,
      exitListKeys: [],
      pauseOnBattery: false,
      pauseOnMetered: true,
      proxyPaths: 1,
      stripePaths: false,
    });
    parseStoredSettings({}).bypassList.push('evil');
    assert.deepEqual(DEFAULT_SETTINGS.bypassList, LOCAL_AND_PRIVATE);
  });

  test('an invalid stored value fails loudly and names its key', () => {
    for (const [key, value] of [
      ['brokerUrl', 'ws://127.0.0.1:8787'],
      ['socksPort', 70000],
      ['socksPort', 1.5],
      ['maxClients', 0],
      ['maxClients', 33],
      ['maxMbps', -1],
      ['maxMbps', 0.1],
      ['maxMbps', 'fast'],
      ['maxMbps', Number.NaN],
      ['maxMbps', 1e6],
      ['monthlyCapGb', -5],
      ['monthlyCapGb', 0.001],
      ['monthlyCapGb', 'lots'],
      ['bypassList', 'not a list with spaces'],
      ['bypassList', [1, 2]],
      ['exitId', 42],
      ['exitListKeys', ['not-a-key']],
      ['exitListKeys', 'A'.repeat(42)],
      ['exitListKeys', [7]],
    ] as const) {
      assert.throws(
        () => parseStoredSettings({ [key]: value }),
        (error: unknown) => error instanceof SettingsError && error.key === key && error.code === 'INVALID_SETTING',
        `${key}=${JSON.stringify(value)}`,
      );
    }
  });
});

describe('broker URL', () => {
  test('keeps http(s) URLs without the trailing slash, keeps a path prefix', () => {
    assert.equal(parseBrokerUrl(' http://127.0.0.1:8787/ '), 'http://127.0.0.1:8787');
    assert.equal(parseBrokerUrl('https://example.org/ferry/'), 'https://example.org/ferry');
  });

  test('rejects other schemes, non-URLs, queries and empty text', () => {
    for (const bad of ['ftp://x', 'javascript:alert(1)', 'not a url', '', 'http://x/?a=1', 'http://x/#f']) {
      assert.throws(() => parseBrokerUrl(bad), SettingsError, bad);
    }
  });
});

describe('options form', () => {
  test('one host per line, blank lines dropped', () => {
    assert.deepEqual(parseBypassList('localhost\r\n\n  *.lan  \n<local>\n'), ['localhost', '*.lan', '<local>']);
  });

  test('the default list (loopback, <local>, private ranges in CIDR) parses back unchanged from the form', () => {
    assert.deepEqual(parseBypassList(settingsToForm(DEFAULT_SETTINGS).bypassList), LOCAL_AND_PRIVATE);
    assert.deepEqual(parseBypassList(LOCAL_AND_PRIVATE), LOCAL_AND_PRIVATE);
    assert.deepEqual(parseBypassList(['100.64.0.0/10', '2001:db8::/32', 'https://*.corp.example', '*.lan:8080']), [
      '100.64.0.0/10',
      '2001:db8::/32',
      'https://*.corp.example',
      '*.lan:8080',
    ]);
  });

  test('a malformed address range is refused with an example of the right form', () => {
    for (const bad of ['10.0.0.0/33', 'fc00::/129', '10.0.0/8', '300.1.1.1/8', 'intranet/8', '10.0.0.0/', '[fc00::]/7']) {
      assert.throws(
        () => parseBypassList([bad]),
        (error: unknown) => error instanceof SettingsError && /10\.0\.0\.0\/8/.test(error.message),
        bad,
      );
    }
  });

  test('a valid form round-trips through settingsToForm', () => {
    const changed = { socksPort: 1080, maxClients: 4, maxMbps: 0.5, pauseOnMetered: false, proxyPaths: 3, stripePaths: true };
    const form = settingsToForm({ ...DEFAULT_SETTINGS, ...changed });
    const result = parseSettingsForm(form);
    assert.equal(result.ok, true);
    assert.deepEqual(result.ok && result.settings, { ...DEFAULT_SETTINGS, ...changed });
    assert.equal(capBytesPerSecond(0.5), 62_500, 'the cap the relay worker gets, in bytes a second');
    assert.equal(capBytesPerSecond(0), 0, 'no cap');
    assert.equal(monthlyCapBytes(50), 50_000_000_000);
  });

  test('every bad field gets its own message; good fields get none', () => {
    const result = parseSettingsForm({
      brokerUrl: 'ftp://x',
      exitId: 'a',
      socksPort: 'abc',
      bypassList: 'ok',
      maxClients: '99',
      maxMbps: '0.1',
      monthlyCapGb: '50',
      exitListKeys: '',
      pauseOnBattery: 'true',
      pauseOnMetered: 'maybe',
      proxyPaths: '4',
      stripePaths: 'false',
    });
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.deepEqual(Object.keys(result.errors).sort(), ['brokerUrl', 'maxClients', 'maxMbps', 'pauseOnMetered', 'proxyPaths', 'socksPort']);
    assert.match(result.errors.proxyPaths?.message ?? '', /from 1 to 3/);
    assert.match(result.errors.maxMbps?.message ?? '', /0 \(no cap\) or a number of Mbit\/s from 0\.262144/);
    assert.match(result.errors.brokerUrl?.message ?? '', /http:\/\/ or https:\/\//);
    assert.match(result.errors.maxClients?.message ?? '', /1 to 32/);
    // The options page shows the same in the reader's language: a message key and its values.
    assert.equal(result.errors.maxClients?.messageKey, 'errMaxClients');
    assert.deepEqual(result.errors.maxClients?.substitutions, ['1', '32']);
  });
});
