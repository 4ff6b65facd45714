// The Firefox build: its manifest derived from the root manifest.json (extension/firefox-manifest.ts), and the build
// itself (vite.firefox.config.ts, made afresh here into a temporary folder) passing Mozilla's `web-ext lint` with no
// errors. The same lint on a copy given Chromium's service-worker background reports an error, so the check can fail.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type ChromiumManifest, FIREFOX_MIN_VERSION, firefoxManifest } from '../../../extension/firefox-manifest.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const rootManifest = JSON.parse(readFileSync(join(root, 'manifest.json'), 'utf8')) as ChromiumManifest;
/** A build and a lint each take a few seconds on this machine; far more means something hangs. */
const COMMAND_TIMEOUT_MS = 120_000;

interface LintMessage {
  code: string;
  message: string;
  file?: string;
}
interface LintReport {
  summary: { errors: number; warnings: number; notices: number };
  errors: LintMessage[];
  warnings: LintMessage[];
}

/** Runs `web-ext lint` on a folder and returns its JSON report. */
function webExtLint(sourceDir: string): LintReport {
  const result = spawnSync(join(root, 'node_modules', '.bin', 'web-ext'), ['lint', '--source-dir', sourceDir, '--output', 'json', '--no-config-discovery'], {
    cwd: root,
    encoding: 'utf8',
    timeout: COMMAND_TIMEOUT_MS,
  });
  assert.equal(result.error, undefined, `web-ext could not run: ${result.error}`);
  try {
    return JSON.parse(result.stdout) as LintReport;
  } catch {
    assert.fail(`web-ext lint printed no JSON report (exit ${result.status}): ${result.stdout.slice(0, 500)} ${result.stderr.slice(0, 500)}`);
  }
}

let workDir: string;
let buildDir: string;

before(() => {
  workDir = mkdtempSync(join(tmpdir(), 'ferry-firefox-build-'));
  buildDir = join(workDir, 'dist-firefox');
  const build = spawnSync(
    process.execPath,
    [
      join(root, 'node_modules', 'vite', 'bin', 'vite.js'),
      'build',
      '-c',
      'vite.firefox.config.ts',
      '--outDir',
      buildDir,
      '--emptyOutDir',
      '--logLevel',
      'warn',
    ],
    { cwd: root, encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS },
  );
  assert.equal(build.status, 0, `the Firefox build failed: ${build.stdout}${build.stderr}`);
});

after(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

test("the Firefox manifest: an event page instead of Chromium's service worker, a gecko id, and only the permissions Help others uses", () => {
  const manifest = firefoxManifest(rootManifest, { addonId: 'ferry@test.invalid', backgroundScript: 'extension/background/firefox.ts' });
  assert.deepEqual(manifest.background, { scripts: ['extension/background/firefox.ts'], type: 'module' });
  assert.deepEqual(manifest.permissions, ['storage'], 'no offscreen, nativeMessaging, proxy or privacy');
  assert.equal(manifest.browser_specific_settings.gecko.id, 'ferry@test.invalid');
  assert.equal(manifest.browser_specific_settings.gecko.strict_min_version, FIREFOX_MIN_VERSION);
  assert.deepEqual(manifest.options_ui, { page: rootManifest.options_page, open_in_tab: true });
  for (const chromiumOnly of ['key', 'minimum_chrome_version', 'options_page', 'content_scripts']) {
    assert.equal(manifest[chromiumOnly], undefined, `${chromiumOnly} is left out`);
  }
  // What both builds share comes from the one root manifest.
  assert.equal(manifest.version, rootManifest.version);
  assert.deepEqual(manifest.icons, rootManifest.icons);
  assert.deepEqual(manifest.action, rootManifest.action);
});

test('the built add-on names a background script that exists, and its pages', () => {
  const built = JSON.parse(readFileSync(join(buildDir, 'manifest.json'), 'utf8')) as {
    background: { scripts: string[]; service_worker?: string };
    action: { default_popup: string };
    options_ui: { page: string };
  };
  assert.equal(built.background.service_worker, undefined);
  for (const file of [...built.background.scripts, built.action.default_popup, built.options_ui.page]) {
    assert.ok(existsSync(join(buildDir, file)), `${file} is in the build`);
  }
});

test('web-ext lint finds no errors in the Firefox build', () => {
  const report = webExtLint(buildDir);
  assert.equal(report.summary.errors, 0, `web-ext lint errors: ${JSON.stringify(report.errors, null, 2)}`);
});

test("web-ext lint reports an error for the same build with Chromium's service-worker background (the check can fail)", () => {
  const broken = join(workDir, 'with-service-worker');
  cpSync(buildDir, broken, { recursive: true });
  const manifestPath = join(broken, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { background: unknown };
  manifest.background = { service_worker: 'service-worker-loader.js', type: 'module' };
  writeFileSync(manifestPath, JSON.stringify(manifest));
  const report = webExtLint(broken);
  assert.ok(report.summary.errors > 0, 'an error is reported');
  assert.ok(
    report.errors.some((error) => error.code === 'BACKGROUND_SERVICE_WORKER_NOFALLBACK'),
    JSON.stringify(report.errors.map((error) => error.code)),
  );
});
