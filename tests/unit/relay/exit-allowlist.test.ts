import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ExitInfo } from '../../../protocol/signaling.ts';
import { ExitRefusedError, verifyOfferedExit } from '../../../relay-worker/exit-allowlist.ts';

const listed: ExitInfo = { id: 'exit-a', url: 'wss://exit-a.example.org/v1/relay', publicKey: 'pkA' };
const other: ExitInfo = { id: 'exit-b', url: 'ws://127.0.0.1:9000/', publicKey: 'pkB' };

function refusal(offered: ExitInfo, allowlist: ExitInfo[]): string {
  try {
    verifyOfferedExit(offered, allowlist);
  } catch (error) {
    assert.ok(error instanceof ExitRefusedError);
    return error.code;
  }
  assert.fail('the exit was accepted');
}

describe('exit allowlist', () => {
  test('accepts an exit listed with the same id, url and public key, and returns its URL', () => {
    assert.equal(verifyOfferedExit({ ...listed }, [other, listed]).href, listed.url);
    assert.equal(verifyOfferedExit(other, [other]).protocol, 'ws:');
  });

  test('refuses when any of id, url or public key differs, or the list is empty', () => {
    assert.equal(refusal({ ...listed, id: 'exit-x' }, [listed]), 'EXIT_NOT_LISTED');
    assert.equal(refusal({ ...listed, url: 'wss://evil.example.org/' }, [listed]), 'EXIT_NOT_LISTED');
    assert.equal(refusal({ ...listed, publicKey: 'pkX' }, [listed]), 'EXIT_NOT_LISTED');
    assert.equal(refusal(listed, []), 'EXIT_NOT_LISTED');
  });

  test('refuses listed exits whose URL is not ws: or wss:', () => {
    for (const url of ['https://exit.example.org/', 'http://127.0.0.1:80/', 'file:///etc/passwd', 'javascript:alert(1)', 'ftp://x/']) {
      const exit = { ...listed, url };
      assert.equal(refusal(exit, [exit]), 'EXIT_URL_NOT_WEBSOCKET', url);
    }
    const garbage = { ...listed, url: 'not a url' };
    assert.equal(refusal(garbage, [garbage]), 'EXIT_URL_INVALID');
    const withCredentials = { ...listed, url: 'wss://user:pw@exit.example.org/' };
    assert.equal(refusal(withCredentials, [withCredentials]), 'EXIT_URL_INVALID');
  });

  test('keeps refusal messages short enough for a decline reason', () => {
    const long = { ...listed, id: 'x'.repeat(128) };
    assert.throws(
      () => verifyOfferedExit(long, [listed]),
      (error: unknown) => error instanceof Error && error.message.length <= 200,
    );
  });
});
