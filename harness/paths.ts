/**
 * @module harness/paths
 * Where the harness finds the repository, the built extension and its pages.
 */
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '..');
/** The unpacked extension `npm run build` writes (vite.config.ts). */
export const EXTENSION_DIR = join(REPO_ROOT, 'dist', 'extension');
/** The popup's path inside the built extension (manifest.json's default_popup). */
export const POPUP_PATH = 'extension/popup/popup.html';
