import { readFileSync } from 'node:fs';

/** A static file of the dashboard. */
export interface UiAsset {
  body: Buffer;
  contentType: string;
}

/** The dashboard's files (shipped next to this module: `src/api/ui/`, copied to `dist/` by the build). */
const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'graph.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

/**
 * Security headers of the dashboard: its own files only (nothing from a CDN or any other origin), no inline
 * script, API calls and the WebSocket to this daemon only, never framed.
 */
export const UI_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

let cache: Map<string, UiAsset> | undefined;

/** The asset at `pathname` (`/ui`, `/ui/`, `/ui/app.js`, ...), or undefined when there is none. Read once, then kept. */
export function uiAsset(pathname: string): UiAsset | undefined {
  const name = pathname === '/ui' || pathname === '/ui/' ? 'index.html' : pathname.slice('/ui/'.length);
  const contentType = FILES[name];
  if (!contentType) return undefined;
  cache ??= new Map();
  let asset = cache.get(name);
  if (!asset) {
    let body: Buffer;
    try {
      body = readFileSync(new URL(`./ui/${name}`, import.meta.url));
    } catch {
      return undefined; // a build without the dashboard's files: 404
    }
    asset = { body, contentType };
    cache.set(name, asset);
  }
  return asset;
}
