/**
 * @module embed
 * The one line a website adds: <script src="https://FERRY-SITE/embed.js" async data-theme="auto" data-layout="badge"
 * data-lang="en"></script>. It puts the widget's frame, from Ferry's own origin, where the script tag is, and passes the
 * frame's announcements on as a `ferry-widget` CustomEvent on the host's document (detail: {on, helping}). The host
 * page gets nothing else: the relay, its consent and its figures stay inside the cross-origin frame.
 * Built as a classic script (document.currentScript is null in modules).
 */
import { parseWidgetEvent } from '../protocol/widget-events.ts';

/** Frame heights per layout (px): the frame cannot size itself without telling the host more than it may. */
const FRAME_HEIGHT_PX = { badge: 190, card: 280 } as const;
const FRAME_MAX_WIDTH_PX = 340;

function embed(script: HTMLScriptElement): void {
  const site = new URL('.', script.src);
  const layout = script.dataset.layout === 'card' ? 'card' : 'badge';
  const frameUrl = new URL('widget/', site);
  frameUrl.searchParams.set('theme', script.dataset.theme ?? 'auto');
  frameUrl.searchParams.set('layout', layout);
  if (script.dataset.lang !== undefined) frameUrl.searchParams.set('lang', script.dataset.lang);

  const frame = document.createElement('iframe');
  frame.src = frameUrl.href;
  frame.title = 'Ferry: help people reach the open internet';
  frame.className = 'ferry-widget';
  frame.referrerPolicy = 'no-referrer';
  frame.style.cssText = `border:0;display:block;width:100%;max-width:${FRAME_MAX_WIDTH_PX}px;height:${FRAME_HEIGHT_PX[layout]}px;color-scheme:normal`;
  script.after(frame);

  window.addEventListener('message', (event: MessageEvent) => {
    if (event.source !== frame.contentWindow || event.origin !== site.origin) return;
    let announced: ReturnType<typeof parseWidgetEvent>;
    try {
      announced = parseWidgetEvent(event.data);
    } catch {
      return; // not the widget's
    }
    document.dispatchEvent(new CustomEvent('ferry-widget', { detail: { on: announced.on, helping: announced.helping } }));
  });
}

const current = document.currentScript;
if (current instanceof HTMLScriptElement && current.src !== '') embed(current);
else console.warn('[ferry] embed.js must be loaded by a <script src> tag (not as a module, nor inlined)');
