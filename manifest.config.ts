/**
 * @module manifest.config
 * The extension's MV3 manifest, for @crxjs/vite-plugin. A TypeScript file rather than manifest.json so the version
 * comes from package.json and the pinned ID's public key from protocol/local-channel.ts (one source for each).
 */
import { defineManifest } from '@crxjs/vite-plugin';
import packageJson from './package.json' with { type: 'json' };
import { FERRY_EXTENSION_PUBLIC_KEY } from './protocol/local-channel.ts';

export default defineManifest({
  manifest_version: 3,
  name: 'Ferry',
  description: 'Reach the open internet through volunteers, or be a volunteer yourself.',
  version: packageJson.version,
  // Pins the extension ID (iicjeojiegedfieohhglnafgfieegdoe) that the native helper and its pipe allow.
  key: FERRY_EXTENSION_PUBLIC_KEY,
  minimum_chrome_version: '116',
  permissions: ['offscreen', 'nativeMessaging', 'proxy', 'storage'],
  background: { service_worker: 'extension/background/index.ts', type: 'module' },
  action: { default_popup: 'extension/popup/popup.html', default_title: 'Ferry' },
  options_page: 'extension/options/options.html',
});
