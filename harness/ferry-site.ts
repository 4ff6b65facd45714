/**
 * @module harness/ferry-site
 * Serves Ferry's site (dist-widget/: the tab page, the widget's frame, embed.js) the way docs/operations.md asks a
 * production web server to: ferry-site.json beside the pages, the tab page never inside a frame, the widget in any.
 * `ferry demo` and the tests use it; production may use any static server with the same headers.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { contentTypeOf, fileUnder } from '../protocol/adapters/static-files.ts';
import { SITE_CONFIG_FILE, type SiteConfig } from '../protocol/site-config.ts';
import { REPO_ROOT } from './paths.ts';

/** What `npm run build` writes (vite.web.config.ts). */
export const WIDGET_DIST_DIR = join(REPO_ROOT, 'dist-widget');

/** Headers every answer carries; the frame rules depend on the page (framingHeaders). */
const COMMON_HEADERS = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' } as const;

/**
 * The tab page relays as soon as it opens, so a site must not be able to frame it (that would skip the widget's
 * opt-in click); the widget is made to be framed by anyone.
 */
export function framingHeaders(path: string): Record<string, string> {
  if (path.startsWith('/widget/')) return { 'content-security-policy': 'frame-ancestors *' };
  return { 'content-security-policy': "frame-ancestors 'none'", 'x-frame-options': 'DENY' };
}

export interface FerrySite {
  /** The site's root URL, ending in '/'. */
  url: string;
  close(): Promise<void>;
}

export interface FerrySiteOptions {
  config: SiteConfig;
  dir?: string;
  host?: string;
  port?: number;
  /** Serve without the frame rules, as a careless production server might (a test of the tab page's own refusal). */
  omitFramingHeaders?: boolean;
}

export async function startFerrySite(options: FerrySiteOptions): Promise<FerrySite> {
  const root = options.dir ?? WIDGET_DIST_DIR;
  const siteConfig = JSON.stringify(options.config);
  const sockets = new Set<Socket>();
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://site').pathname;
    const headers = { ...COMMON_HEADERS, ...(options.omitFramingHeaders ? {} : framingHeaders(path)) };
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { ...headers, allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/') {
      response.writeHead(302, { ...headers, location: '/tab/' }).end();
      return;
    }
    if (path === `/${SITE_CONFIG_FILE}`) {
      response.writeHead(200, { ...headers, 'content-type': 'application/json', 'cache-control': 'no-cache' }).end(siteConfig);
      return;
    }
    const file = fileUnder(root, path, 'index.html');
    if (file === undefined) {
      response.writeHead(404, headers).end();
      return;
    }
    readFile(file).then(
      (body) => response.writeHead(200, { ...headers, 'content-type': contentTypeOf(file) }).end(body),
      () => response.writeHead(404, { ...headers, 'content-type': 'text/plain' }).end(`not found: ${path}\n`),
    );
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${address.port}/`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A stand-in for a website that embeds the widget, on a second origin (and a second site: `localhost`, while Ferry's
 * site is 127.0.0.1). Its page is the one line docs/operations.md gives site owners, and a line that shows the
 * widget's events.
 */
export async function startDemoHostPage(options: { ferrySiteUrl: string; port?: number; attributes?: string }): Promise<FerrySite> {
  const embedLine = `<script src="${new URL('embed.js', options.ferrySiteUrl).href}" async ${options.attributes ?? 'data-theme="auto" data-layout="card"'}></script>`;
  const page = `<!doctype html><html lang="en"><meta charset="utf-8"><title>A site that embeds Ferry</title>
<body style="font:15px system-ui;max-width:640px;margin:40px auto;padding:0 16px">
<h1>Some website</h1><p>This page embeds the Ferry widget with one line:</p><pre id="embed-line"></pre>
${embedLine}
<p>Events from the widget: <output id="widget-events">none yet</output></p>
<script>
document.getElementById('embed-line').textContent = ${JSON.stringify(embedLine).replaceAll('<', '\\u003c')};
document.addEventListener('ferry-widget', (event) => {
  document.getElementById('widget-events').textContent = JSON.stringify(event.detail);
});
</script></body></html>`;
  const sockets = new Set<Socket>();
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://localhost:${address.port}/`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
