/**
 * @module browser-target
 * Which browser this build of the extension is for: `npm run build` makes one for Chromium (vite.config.ts) and one
 * for Firefox (vite.firefox.config.ts, which sets __FERRY_BROWSER__). Pages that differ between the two ask here
 * instead of sniffing the browser at run time. Outside a build (node tests) it is Chromium.
 */
declare const __FERRY_BROWSER__: string | undefined;

export type BrowserTarget = 'chromium' | 'firefox';

export const BROWSER_TARGET: BrowserTarget = typeof __FERRY_BROWSER__ === 'string' && __FERRY_BROWSER__ === 'firefox' ? 'firefox' : 'chromium';

/** Proxy me needs Chromium's offscreen document, chrome.proxy and the native helper: not in the Firefox build yet. */
export const PROXY_ME_AVAILABLE = BROWSER_TARGET === 'chromium';
