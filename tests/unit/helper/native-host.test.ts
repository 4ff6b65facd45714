// The helper as the browser runs it (`ferry helper --native`, its own process, native messaging on stdio): it takes
// an exit only from a list signed by a key it pins itself, whatever the extension sends.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { LocalOperator } from '../../../harness/operator.ts';
import { REPO_ROOT } from '../../../harness/paths.ts';
import { terminate } from '../../../harness/processes.ts';
import { withTimeout } from '../../../harness/wait.ts';
import { generateKeyPair, toBase64Url } from '../../../protocol/index.ts';
import { type NativeToExtension, parseNativeToExtension } from '../../../protocol/local-channel.ts';

const STEP_TIMEOUT_MS = 15_000;

/** A running `ferry helper --native`, spoken to as the browser does: 32-bit little-endian length, then JSON. */
class NativeHostProcess {
  readonly #received: NativeToExtension[] = [];
  readonly #waiters: Array<() => void> = [];
  #buffered = Buffer.alloc(0);
  stderr = '';

  private constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (chunk: Buffer) => {
      this.#buffered = Buffer.concat([this.#buffered, chunk]);
      while (this.#buffered.length >= 4) {
        const length = this.#buffered.readUInt32LE(0);
        if (this.#buffered.length < 4 + length) break;
        this.#received.push(parseNativeToExtension(JSON.parse(this.#buffered.subarray(4, 4 + length).toString('utf8'))));
        this.#buffered = this.#buffered.subarray(4 + length);
      }
      for (const wake of this.#waiters.splice(0)) wake();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
  }

  static start(flags: string[]): NativeHostProcess {
    return new NativeHostProcess(
      spawn(process.execPath, [join(REPO_ROOT, 'bin', 'ferry.js'), 'helper', '--native', ...flags], { stdio: ['pipe', 'pipe', 'pipe'] }),
    );
  }

  send(message: unknown): void {
    const body = Buffer.from(JSON.stringify(message), 'utf8');
    const header = Buffer.alloc(4);
    header.writeUInt32LE(body.length, 0);
    this.child.stdin?.write(Buffer.concat([header, body]));
  }

  /** The next message from the helper (in order). */
  async next(what: string): Promise<NativeToExtension> {
    const take = async (): Promise<NativeToExtension> => {
      while (this.#received.length === 0) await new Promise<void>((resolve) => this.#waiters.push(resolve));
      return this.#received.shift() as NativeToExtension;
    };
    return withTimeout(take(), `${what} (helper stderr: ${this.stderr.slice(-500)})`, STEP_TIMEOUT_MS);
  }

  async close(): Promise<void> {
    this.child.stdin?.end();
    await terminate(this.child);
  }
}

function listedExit(id: string) {
  return { id, url: 'ws://127.0.0.1:9/v1/relay', publicKey: toBase64Url(generateKeyPair().publicKey) };
}

describe('ferry helper --native and the signed exit list', () => {
  test('refuses lists not signed by its pinned key, tampered lists and unlisted ids; starts on a good list', async () => {
    const operator = new LocalOperator();
    const exit = listedExit('exit-1');
    const good = operator.signExitList([exit]);
    const helper = NativeHostProcess.start(['--exit-list-key', operator.exitListKey]);
    try {
      helper.send({ type: 'start', exitList: new LocalOperator().signExitList([exit]), exitId: 'exit-1' });
      assert.deepEqual(pick(await helper.next('the refusal of a foreign signature')), { type: 'error', code: 'EXIT_LIST_NOT_SIGNED' });

      // The broker's own exit, with the operator's signature copied from the real list.
      const forged = operator.signExitList([{ ...exit, publicKey: toBase64Url(generateKeyPair().publicKey) }]);
      helper.send({ type: 'start', exitList: { payload: forged.payload, signature: good.signature }, exitId: 'exit-1' });
      assert.deepEqual(pick(await helper.next('the refusal of a tampered list')), { type: 'error', code: 'EXIT_LIST_NOT_SIGNED' });

      helper.send({ type: 'start', exitList: good, exitId: 'exit-2' });
      assert.deepEqual(pick(await helper.next('the refusal of an unlisted exit')), { type: 'error', code: 'BAD_EXIT_LIST' });

      helper.send({ type: 'start', exitList: good, exitId: 'exit-1' });
      const ready = await helper.next('ready on the signed list');
      assert.equal(ready.type, 'ready', JSON.stringify(ready));
    } finally {
      await helper.close();
    }
  });

  test('without a pinned key every start is refused with how to install one', async () => {
    const operator = new LocalOperator();
    const helper = NativeHostProcess.start([]);
    try {
      helper.send({ type: 'start', exitList: operator.signExitList([listedExit('exit-1')]), exitId: 'exit-1' });
      const refusal = await helper.next('the refusal');
      assert.deepEqual(pick(refusal), { type: 'error', code: 'NO_EXIT_LIST_KEY' });
      assert.match(refusal.type === 'error' ? refusal.message : '', /--exit-list-key/);
    } finally {
      await helper.close();
    }
  });
});

function pick(message: NativeToExtension): { type: string; code?: string } {
  return message.type === 'error' ? { type: message.type, code: message.code } : { type: message.type };
}
