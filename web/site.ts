/**
 * @module site
 * Reads the site's ferry-site.json (protocol/site-config.ts) for the tab page and the widget.
 */
import { BodyTooLargeError, readBoundedText } from '../protocol/bounded-body.ts';
import { MAX_SITE_CONFIG_BYTES, parseSiteConfig, SITE_CONFIG_FILE, type SiteConfig, SiteConfigError } from '../protocol/site-config.ts';

/** Fetches and checks ferry-site.json from the site's root (`base`, the page's own origin and path prefix). */
export async function loadSiteConfig(base: URL): Promise<SiteConfig> {
  const url = new URL(SITE_CONFIG_FILE, base);
  let response: Response;
  try {
    response = await fetch(url, { cache: 'no-cache' });
  } catch (error) {
    throw new SiteConfigError(`${SITE_CONFIG_FILE} could not be fetched from ${url.origin} (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!response.ok) throw new SiteConfigError(`${SITE_CONFIG_FILE} answered HTTP ${response.status}: the site's operator must serve it beside the pages`);
  let text: string;
  try {
    // Read no more than the limit: the body is not held whole before it is judged.
    text = await readBoundedText(response, MAX_SITE_CONFIG_BYTES);
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw new SiteConfigError(`${SITE_CONFIG_FILE} is larger than ${MAX_SITE_CONFIG_BYTES} bytes`);
    throw new SiteConfigError(`${SITE_CONFIG_FILE} could not be read (${error instanceof Error ? error.message : String(error)})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SiteConfigError(`${SITE_CONFIG_FILE} is not JSON`);
  }
  return parseSiteConfig(parsed);
}
