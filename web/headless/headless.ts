/**
 * The page `ferry volunteer` opens in its own headless Chromium (relay-worker/chromium-engine.ts): nothing to show,
 * only the relay on the browser's WebRTC. The link's key arrives in the fragment, which no request carries.
 */
import { runEnginePage } from '../../relay-worker/engine-page.ts';

const key = new URLSearchParams(location.hash.slice(1)).get('key');
if (key === null) throw new Error('this page is opened by ferry volunteer, with #key=… in its address');
runEnginePage(location, key);
