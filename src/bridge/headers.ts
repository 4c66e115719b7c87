import type { UwsgiVars } from '../protocol/vars.js';

/**
 * HTTP_* vars that describe the client-to-front-end hop or duplicate a CGI var, and so must not
 * reach the app: nginx has already de-chunked the body (CONTENT_LENGTH is the truth) and
 * answered `Expect: 100-continue` itself (protocol.md §3.3, node-ecosystem.md §3.7).
 */
const SKIPPED = new Set(['HTTP_CONTENT_TYPE', 'HTTP_CONTENT_LENGTH', 'HTTP_TRANSFER_ENCODING', 'HTTP_EXPECT']);

/** `HTTP_USER_AGENT` -> `User-Agent`: CGI lost the original case, title case reads naturally. */
function headerName(key: string): string {
  const parts = key.slice(5).toLowerCase().split('_');
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (p.length > 0) parts[i] = p[0].toUpperCase() + p.slice(1);
  }
  return parts.join('-');
}

const nameCache = new Map<string, string>();
function cachedHeaderName(key: string): string {
  let name = nameCache.get(key);
  if (name === undefined) {
    name = headerName(key);
    if (nameCache.size < 1024) nameCache.set(key, name);
  }
  return name;
}

/**
 * Node's rawHeaders layout ([name, value, name, value, ...]) from the var block. Repeated vars
 * (nginx 1.22 sends one per header line) are merged as nginx >= 1.23 does: Cookie with "; ",
 * everything else with ", ". CONTENT_TYPE/CONTENT_LENGTH come from the CGI vars when non-empty;
 * a missing Host falls back to SERVER_NAME[:SERVER_PORT] so URL builders always have one.
 */
export function rawHeadersFromVars(vars: UwsgiVars): string[] {
  const raw: string[] = [];
  const index = new Map<string, number>();
  const { keys, values } = vars;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (key.length < 6 || !key.startsWith('HTTP_') || SKIPPED.has(key)) continue;
    const at = index.get(key);
    if (at === undefined) {
      index.set(key, raw.length + 1);
      raw.push(cachedHeaderName(key), values[i]);
    } else {
      raw[at] += (key === 'HTTP_COOKIE' ? '; ' : ', ') + values[i];
    }
  }
  const contentType = vars.get('CONTENT_TYPE');
  if (contentType) raw.push('Content-Type', contentType);
  const contentLength = vars.get('CONTENT_LENGTH');
  if (contentLength) raw.push('Content-Length', contentLength);
  if (!index.has('HTTP_HOST')) {
    const host = fallbackHost(vars);
    if (host) raw.push('Host', host);
  }
  return raw;
}

function fallbackHost(vars: UwsgiVars): string | undefined {
  const name = vars.get('SERVER_NAME');
  if (!name) return undefined;
  const port = vars.get('SERVER_PORT');
  const https = isHttps(vars);
  const defaultPort = https ? '443' : '80';
  return port && port !== defaultPort ? `${name}:${port}` : name;
}

/** The scheme the client used, from the vars nginx, Apache and uWSGI's router send. */
export function isHttps(vars: UwsgiVars): boolean {
  const https = vars.get('HTTPS');
  if (https !== undefined) {
    const v = https.toLowerCase();
    if (v === 'on' || v === '1') return true;
  }
  return vars.get('REQUEST_SCHEME') === 'https' || vars.get('UWSGI_SCHEME') === 'https';
}
