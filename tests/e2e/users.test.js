// Browser tests of the web UI: a real Chromium against a running ClusterLite
// (through nginx by default, or a lone node).
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL, NODE_URL, RUN, WAIT, launch, openUi, searchRun, row, screenshot, api, createUser,
  uniqueEmail, eventually, deleteUsers, RUN_PREFIX,
} from './lib.js';

// A labelled field of the user dialog.
const field = (page, label) => page.locator('#user-dialog').getByLabel(label, { exact: true });

describe(`web UI at ${BASE_URL}/ui/`, () => {
  let browser;
  let page;

  before(async () => {
    const health = await api('GET', '/healthz').catch((e) => ({ status: String(e) }));
    assert.equal(health.status, 200, `${BASE_URL}/healthz must answer 200 before the browser tests run`);
    browser = await launch();
  });

  afterEach(async (t) => {
    if (page) {
      const name = t.name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase();
      await screenshot(page, name).catch((e) => console.error(`screenshot ${name}: ${e.message}`));
      await page.close().catch(() => {});
      page = null;
    }
  });

  after(async () => {
    // Remove what this run created that is still there.
    await deleteUsers(RUN_PREFIX);
    if (browser) {
      assert.deepEqual(browser.errors, [], 'the page raised no uncaught errors');
      await browser.close();
    }
  });

  it('is served with security headers and runs within its Content-Security-Policy', async () => {
    page = await browser.context.newPage();
    const res = await page.goto(`${BASE_URL}/ui/`, { waitUntil: 'load' });
    const headers = res.headers();
    assert.match(headers['content-security-policy'], /default-src 'self'/);
    assert.match(headers['content-security-policy'], /frame-ancestors 'none'/);
    assert.doesNotMatch(headers['content-security-policy'], /unsafe-inline|unsafe-eval/);
    assert.equal(headers['x-content-type-options'], 'nosniff');
    assert.equal(headers['referrer-policy'], 'no-referrer');
    await page.waitForFunction(() => document.getElementById('users-summary').textContent.trim() !== '');
    assert.deepEqual(browser.errors, [], 'the UI loaded without a refused resource');
    // The policy is enforced, and a refusal is seen by these tests.
    await page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.injected = true';
      document.body.append(s);
    });
    await eventually(() => browser.errors.some((e) => e.startsWith('CSP:')), WAIT, 'the inline script was refused');
    assert.equal(await page.evaluate(() => window.injected === true), false, 'an inline script ran');
    browser.errors.length = 0;
  });

  it('creates a user and lists it', async () => {
    page = await openUi(browser.context);
    const email = uniqueEmail('create');
    await page.getByRole('button', { name: 'New user' }).click();
    await field(page, 'Name').fill('Ada Lovelace');
    await field(page, 'Email').fill(email);
    const save = page.locator('#user-save');
    await save.click();
    await page.locator('#user-dialog').waitFor({ state: 'hidden' });
    await searchRun(page);
    const r = row(page, email);
    await r.waitFor({ state: 'visible' });
    assert.match(await r.textContent(), /Ada Lovelace/);
    // The browser keeps the session position, so the next request reads this write on any node.
    const cookies = await browser.context.cookies();
    const position = cookies.find((c) => c.name === 'clusterlite_position');
    assert.ok(position, 'the write answer set the clusterlite_position cookie');
    assert.equal(position.httpOnly, true);
    assert.equal(position.sameSite, 'Lax');
    assert.equal(await save.isDisabled(), false, 'the save button is enabled again after the write');
    const served = (await page.locator('#served-by').textContent()).trim();
    assert.ok(served.length > 0, 'the page shows which node served the last request');
  });

  it('edits a user', async () => {
    const email = uniqueEmail('edit');
    const user = await createUser('Grace Hopper', email);
    page = await openUi(browser.context);
    await searchRun(page);
    const r = row(page, email);
    await r.waitFor({ state: 'visible' });
    await r.getByRole('button', { name: 'Edit Grace Hopper' }).click();
    const name = field(page, 'Name');
    assert.equal(await name.inputValue(), 'Grace Hopper');
    await name.fill('Rear Admiral Grace Hopper');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.locator('#user-dialog').waitFor({ state: 'hidden' });
    await page.waitForFunction(
      (e) => document.querySelector(`#users-body tr[data-email="${e}"] .user-name`)?.textContent === 'Rear Admiral Grace Hopper',
      email, { timeout: WAIT });
    const stored = await api('GET', `/users/${user.id}`);
    assert.equal(stored.status, 200);
    assert.equal(stored.body.name, 'Rear Admiral Grace Hopper');
  });

  it('deletes a user after confirmation', async () => {
    const email = uniqueEmail('delete');
    const user = await createUser('Alan Turing', email);
    page = await openUi(browser.context);
    await searchRun(page);
    const r = row(page, email);
    await r.waitFor({ state: 'visible' });

    // Cancelling keeps the user.
    await r.getByRole('button', { name: 'Delete Alan Turing' }).click();
    const dialog = page.locator('#confirm-dialog');
    await dialog.waitFor({ state: 'visible' });
    assert.match(await dialog.textContent(), new RegExp(email.replace(/[.]/g, '\\.')));
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    assert.equal((await api('GET', `/users/${user.id}`)).status, 200);

    await r.getByRole('button', { name: 'Delete Alan Turing' }).click();
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
    await r.waitFor({ state: 'detached' });
    assert.equal((await api('GET', `/users/${user.id}`)).status, 404);
  });

  it('shows an invalid email under the email field', async () => {
    page = await openUi(browser.context);
    await page.getByRole('button', { name: 'New user' }).click();
    await field(page, 'Name').fill('Bad Address');
    await field(page, 'Email').fill(`not-an-email-${RUN}`);
    await page.locator('#user-save').click();
    const error = page.locator('#user-email-error');
    await page.waitForFunction(() => document.getElementById('user-email-error').textContent.trim() !== '',
      null, { timeout: WAIT });
    assert.match(await error.textContent(), /email/i);
    assert.equal(await field(page, 'Email').getAttribute('aria-invalid'), 'true');
    assert.equal((await page.locator('#user-name-error').textContent()).trim(), '', 'no error under the name field');
    assert.ok(await page.locator('#user-dialog').isVisible(), 'the form stays open');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'user-email', 'focus moves to the email field');
  });

  it('shows a duplicate email as a conflict under the email field', async () => {
    const email = uniqueEmail('dup');
    await createUser('First Owner', email);
    page = await openUi(browser.context);
    await page.getByRole('button', { name: 'New user' }).click();
    await field(page, 'Name').fill('Second Owner');
    await field(page, 'Email').fill(email);
    await page.locator('#user-save').click();
    await page.waitForFunction(() => document.getElementById('user-email-error').textContent.trim() !== '',
      null, { timeout: WAIT });
    assert.match(await page.locator('#user-email-error').textContent(), /already|in use|exists|taken/i);
    assert.ok(await page.locator('#user-dialog').isVisible(), 'the form stays open');
  });

  it('shows a user created directly on a node without a reload', async () => {
    page = await openUi(browser.context);
    await searchRun(page);
    await page.evaluate(() => { window.__noReload = true; });
    const email = uniqueEmail('elsewhere');
    const created = await api('POST', '/users', { base: NODE_URL, body: { name: 'Barbara Liskov', email } });
    assert.equal(created.status, 201, `POST ${NODE_URL}/users`);
    await row(page, email).waitFor({ state: 'visible', timeout: WAIT });
    assert.equal(await page.evaluate(() => window.__noReload), true, 'the page was not reloaded');
  });

  it('follows the change stream: a user made on another node shows within a second, without polling', async () => {
    page = await openUi(browser.context);
    await searchRun(page);
    await page.waitForFunction(() => document.body.dataset.live === 'stream', null, { timeout: WAIT });
    const lists = [];
    page.on('request', (r) => { if (/\/users(\?|$)/.test(new URL(r.url()).pathname + new URL(r.url()).search)) lists.push(Date.now()); });
    // More than a polling period: the list is not asked for while nothing changes.
    await page.waitForTimeout(2500);
    assert.equal(lists.length, 0, `the list was polled ${lists.length} times while the stream was up`);
    const email = uniqueEmail('streamed');
    const created = await api('POST', '/users', { base: NODE_URL, body: { name: 'Grace Hopper', email } });
    assert.equal(created.status, 201, `POST ${NODE_URL}/users`);
    const answered = Date.now();
    await row(page, email).waitFor({ state: 'visible', timeout: WAIT });
    const shown = Date.now() - answered;
    assert.ok(shown <= 1000, `the user showed ${shown} ms after the write was answered`);
    assert.ok(lists.length >= 1, 'the list was reloaded because of the change');
  });

  it('pages through the list, newest first, with the cursor, forwards and back', async () => {
    const first = await api('GET', '/users?limit=11');
    for (let i = first.body.length; i < 11; i++) await createUser(`Pager ${i}`, uniqueEmail('page'));
    page = await openUi(browser.context);
    await page.getByLabel('Per page').selectOption('10');
    const ids = () => page.$$eval('#users-body tr', (rows) => rows.map((r) => r.dataset.id));
    await page.waitForFunction(() => document.querySelectorAll('#users-body tr').length === 10, null, { timeout: WAIT });
    const page1 = await ids();
    const next = page.getByRole('button', { name: 'Next' });
    assert.equal(await next.isDisabled(), false, 'Next is enabled when the API sent a Link: rel="next"');
    await next.click();
    await page.waitForFunction(() => document.getElementById('page-label').textContent === 'Page 2', null, { timeout: WAIT });
    await page.waitForFunction((p1) => {
      const rows = [...document.querySelectorAll('#users-body tr')].map((r) => r.dataset.id);
      return rows.length > 0 && rows.every((id) => !p1.includes(id));
    }, page1, { timeout: WAIT });
    const page2 = await ids();
    // Newest first by default: ids are time-ordered (UUIDv7), so page 2 holds older ones.
    assert.ok(page2[0] < page1[page1.length - 1], 'page 2 continues before the last id of page 1');
    await page.getByRole('button', { name: 'Previous' }).click();
    await page.waitForFunction(() => document.getElementById('page-label').textContent === 'Page 1', null, { timeout: WAIT });
    assert.deepEqual(await ids(), page1);
    assert.equal(await page.getByRole('button', { name: 'Previous' }).isDisabled(), true);
  });

  it('is keyboard usable: open the form, type, cancel with Escape', async () => {
    page = await openUi(browser.context);
    const newUser = page.getByRole('button', { name: 'New user' });
    await newUser.focus();
    await page.keyboard.press('Enter');
    await page.locator('#user-dialog').waitFor({ state: 'visible' });
    assert.equal(await page.evaluate(() => document.activeElement.id), 'user-name');
    await page.keyboard.type('Keyboard User');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'user-email');
    await page.keyboard.press('Escape');
    await page.locator('#user-dialog').waitFor({ state: 'hidden' });
    assert.equal(await page.evaluate(() => document.activeElement.id), 'new-user', 'focus returns to the opener');
  });

  it('shows every node of the cluster with its offsets', async () => {
    page = await openUi(browser.context);
    await page.waitForFunction(() => {
      const nodes = [...document.querySelectorAll('#nodes .node')];
      return nodes.length > 0 && nodes.every((n) => n.dataset.state === 'ok');
    }, null, { timeout: WAIT });
    const expected = await fetch(`${BASE_URL}/ui/cluster.json`, { signal: AbortSignal.timeout(WAIT) })
      .then((r) => (r.ok ? r.json() : null));
    const count = await page.locator('#nodes .node').count();
    assert.equal(count, expected ? expected.length : 1);
    assert.ok(await page.locator('#nodes .partitions tbody tr').count() >= count, 'each node lists its partitions');
    // Every node runs the same users plugin: listed on each card, and no warning.
    const tables = await page.$$eval('#nodes .node', (nodes) => nodes.map((n) =>
      [...n.querySelectorAll('table.plugins tbody tr')].map((r) => r.cells[0].textContent)));
    assert.ok(tables.every((t) => t.includes('users')), `each node lists the users plugin: ${JSON.stringify(tables)}`);
    assert.deepEqual(await page.$$eval('#cluster-warnings li', (items) => items.map((li) => li.textContent)), []);
  });

  it('fits a 375 px phone screen', async () => {
    const email = uniqueEmail('phone');
    await createUser('Phone Layout With A Rather Long Name', email);
    page = await openUi(browser.context, { viewport: { width: 375, height: 812 } });
    await searchRun(page);
    await row(page, email).waitFor({ state: 'visible' });
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `the page is ${width} px wide; it must not scroll sideways`);
    const box = await row(page, email).getByRole('button', { name: /^Edit / }).boundingBox();
    assert.ok(box && box.x + box.width <= 375, 'the row buttons stay on screen');
  });
});

// Needs a node started with API tokens: CLUSTERLITE_E2E_AUTH_URL is its URL,
// CLUSTERLITE_E2E_AUTH_TOKEN a write token it accepts.
const AUTH_URL = (process.env.CLUSTERLITE_E2E_AUTH_URL || '').replace(/\/+$/, '');
const AUTH_TOKEN = process.env.CLUSTERLITE_E2E_AUTH_TOKEN || '';

describe('web UI with API tokens', { skip: !(AUTH_URL && AUTH_TOKEN) && 'CLUSTERLITE_E2E_AUTH_URL/_TOKEN unset' }, () => {
  let browser;
  let page;
  before(async () => { browser = await launch({ token: false }); });
  after(async () => { if (browser) await browser.close(); });
  afterEach(async () => {
    if (page) {
      await screenshot(page, 'asks-for-an-api-token').catch(() => {});
      await page.close().catch(() => {});
    }
  });

  it('asks for a token, keeps it for the tab and sends it on every API request', async () => {
    page = await browser.context.newPage();
    const sent = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname.startsWith('/users')) sent.push(r.headers().authorization || '');
    });
    await page.goto(`${AUTH_URL}/ui/`);
    const dialog = page.locator('#token-dialog');
    await dialog.waitFor({ state: 'visible' });
    await page.getByLabel('Token', { exact: true }).fill('wrong-token-0000000000');
    await page.getByRole('button', { name: 'Use token' }).click();
    await page.waitForFunction(() => /not accepted/.test(document.getElementById('token-reason').textContent),
      null, { timeout: WAIT });
    await page.getByLabel('Token', { exact: true }).fill(AUTH_TOKEN);
    await page.getByRole('button', { name: 'Use token' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.waitForFunction(() => document.getElementById('users-summary').textContent.trim() !== '',
      null, { timeout: WAIT });
    assert.equal(await page.evaluate(() => sessionStorage.getItem('clusterlite.token')), AUTH_TOKEN);

    const email = uniqueEmail('token');
    await page.getByRole('button', { name: 'New user' }).click();
    await field(page, 'Name').fill('Token Holder');
    await field(page, 'Email').fill(email);
    await page.locator('#user-save').click();
    await page.locator('#user-dialog').waitFor({ state: 'hidden' });
    const last = sent.slice(-3);
    assert.ok(last.length > 0 && last.every((h) => h === `Bearer ${AUTH_TOKEN}`), `Authorization headers: ${last}`);
  });
});
