// Shared set-up for the browser tests: settings from the environment, a
// headless Debian Chromium driven by playwright-core, a small API client and
// screenshots.
import { chromium } from 'playwright-core';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');

const trimSlash = (s) => s.replace(/\/+$/, '');
export const BASE_URL = trimSlash(process.env.CLUSTERLITE_E2E_URL || 'http://127.0.0.1:8082');
export const NODE_URL = trimSlash(process.env.CLUSTERLITE_E2E_NODE_URL || 'http://127.0.0.1:8093');
export const ARTIFACTS = path.resolve(repo, process.env.CLUSTERLITE_E2E_ARTIFACTS || 'build/e2e-artifacts');
export const TOKEN = process.env.CLUSTERLITE_E2E_TOKEN || '';
export const CHROMIUM = process.env.CLUSTERLITE_E2E_CHROMIUM || '/usr/bin/chromium';

// Every wait in these tests is bounded by this (milliseconds).
export const WAIT = Number(process.env.CLUSTERLITE_E2E_WAIT_MS || 15000);

// A tag unique to this run; every email the tests create contains it.
export const RUN = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
let seq = 0;
export function uniqueEmail(label) {
  seq += 1;
  return `e2e-${RUN}-${label}-${seq}@example.test`;
}

export async function launch({ token = true } = {}) {
  const profile = await mkdtemp(path.join(tmpdir(), 'clusterlite-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: WAIT * 2,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--disable-sync',
    ],
    viewport: { width: 1280, height: 860 },
  });
  context.setDefaultTimeout(WAIT);
  if (TOKEN && token) {
    await context.addInitScript((t) => sessionStorage.setItem('clusterlite.token', t), TOKEN);
  }
  const errors = [];
  context.on('weberror', (e) => errors.push(String(e.error())));
  // Whatever the page's Content-Security-Policy refuses is an error too.
  context.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) errors.push(`CSP: ${m.text()}`);
  });
  return {
    context,
    errors,
    async close() {
      await context.close().catch(() => {});
      await rm(profile, { recursive: true, force: true });
    },
  };
}

// Opens the UI through BASE_URL and waits until the first list load finished.
export async function openUi(context, { viewport } = {}) {
  const page = await context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  await page.goto(`${BASE_URL}/ui/`, { waitUntil: 'load' });
  await page.waitForFunction(() => {
    const s = document.getElementById('users-summary');
    return s && s.textContent.trim() !== '';
  }, null, { timeout: WAIT });
  return page;
}

// Narrows the list to this run's users: the search box finds the users whose
// name or email starts with the text, across the whole table, and every
// email the tests create starts with `e2e-<RUN>`.
export const RUN_PREFIX = `e2e-${RUN}`;
export async function searchRun(page) {
  await page.getByLabel('Search users by name or email').fill(RUN_PREFIX);
  await page.waitForFunction(() => /match/.test(document.getElementById('users-summary').textContent),
    null, { timeout: WAIT });
}

export function row(page, email) {
  return page.locator(`#users-body tr[data-email="${email}"]`);
}

export async function screenshot(page, name) {
  await mkdir(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// Calls the API of `base` directly (not through the browser).
export async function api(method, urlPath, { base = BASE_URL, body } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`;
  const res = await fetch(`${base}${urlPath}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, node: res.headers.get('X-ClusterLite-Node') };
}

// Deletes the users whose name or email starts with `prefix` (what a run made).
export async function deleteUsers(prefix) {
  let path = `/users?limit=1000&q=${encodeURIComponent(prefix)}`;
  for (let i = 0; i < 20 && path; i++) {
    const res = await fetch(`${BASE_URL}${path}`, {
      headers: TOKEN ? { Authorization: `Bearer ${TOKEN}` } : {}, signal: AbortSignal.timeout(WAIT),
    }).catch(() => null);
    if (!res || res.status !== 200) return;
    for (const u of await res.json()) await api('DELETE', `/users/${u.id}`).catch(() => {});
    const link = res.headers.get('Link');
    const m = link && link.match(/<([^>]*)>\s*;\s*rel="?next"?/);
    path = m ? m[1] : null;
  }
}

export async function createUser(name, email, base = BASE_URL) {
  const res = await api('POST', '/users', { base, body: { name, email } });
  if (res.status !== 201) throw new Error(`POST /users answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

// Polls `fn` until it returns a truthy value, for at most `ms`.
export async function eventually(fn, ms = WAIT, what = 'condition') {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
