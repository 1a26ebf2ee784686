// HTTP access to ClusterLite: every URL is built relative to the page, so
// the UI works wherever it is served (a node's /ui/, or nginx's /ui/).

const TOKEN_KEY = 'clusterlite.token';

// The page lives at <root>/ui/; the API lives at <root>/.
export const root = new URL('../', document.baseURI);

// Resolves an API path ("users?limit=10") under an optional node prefix
// ("/_node/1" or "").
export function apiUrl(path, prefix = '') {
  const base = prefix ? new URL(prefix.replace(/^\/+/, '').replace(/\/*$/, '/'), root) : root;
  return new URL(path.replace(/^\/+/, ''), base);
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.field = problem.field || null;
  }
}

const listeners = new Set();
// Called with the X-ClusterLite-Node of every answered API request.
export function onServedBy(fn) { listeners.add(fn); }

let authHandler = null;
// `fn` is asked for a token after a 401; it resolves to the token or null.
export function setAuthHandler(fn) { authHandler = fn; }

export function getToken() { return sessionStorage.getItem(TOKEN_KEY) || ''; }
export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

function timeoutSignal(ms) {
  const c = new AbortController();
  setTimeout(() => c.abort(), ms);
  return c.signal;
}

// Sends a request and returns {status, body, headers}. Throws ApiError for
// HTTP errors (problem+json parsed when present) and TypeError/AbortError
// when the server cannot be reached.
export async function request(method, path, { body, prefix = '', timeout = 10000, auth = true, track = true } = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = { Accept: 'application/json, application/problem+json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const token = getToken();
    if (auth && token) headers.Authorization = `Bearer ${token}`;
    const res = await fetch(apiUrl(path, prefix), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      signal: timeoutSignal(timeout),
    });
    const node = res.headers.get('X-ClusterLite-Node');
    if (node && track) listeners.forEach((fn) => fn(node));
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
    if (res.status === 401 && auth && authHandler && attempt < 3) {
      const fresh = await authHandler(token ? 'The token was not accepted.' : 'This cluster requires an API token.');
      if (fresh) continue;
    }
    if (!res.ok) {
      const problem = data && typeof data === 'object' ? data : { title: res.statusText, status: res.status };
      throw new ApiError(res.status, problem);
    }
    return { status: res.status, body: data, headers: res.headers };
  }
}

// The `after` cursor of a Link: <...>; rel="next" header, or null.
export function nextCursor(headers) {
  const link = headers.get('Link');
  if (!link) return null;
  for (const part of link.split(',')) {
    const m = part.match(/<([^>]*)>\s*;\s*rel="?next"?/);
    if (m) return new URL(m[1], root).searchParams.get('after');
  }
  return null;
}
