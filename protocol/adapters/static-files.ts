/**
 * @module adapters/static-files
 * Serving a built folder (the site, the volunteer page) from Node: which file a URL path names without ever leaving
 * the folder, and the Content-Type of a file. Shared by the harness's site server and `ferry volunteer`'s page server.
 */
import { extname, join, normalize, sep } from 'node:path';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[extname(file)] ?? 'application/octet-stream';
}

/**
 * The file under `root` that the URL path `urlPath` names (`index.html` for a path ending in "/" when `indexFile` is
 * given), or undefined when it would lie outside `root` or its escapes are malformed.
 */
export function fileUnder(root: string, urlPath: string, indexFile?: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  const file = normalize(join(root, decoded, indexFile !== undefined && urlPath.endsWith('/') ? indexFile : ''));
  return file.startsWith(root + sep) ? file : undefined;
}
