// Browser tests of the list on a users table of at least 50,000 users (issue
// 28): newest first by default, a user created through the form shown and
// highlighted at once at the top, the search box finding a user among them by
// email prefix on the server, a user created through another node appearing
// at the top without a reload, and paging by the Link cursor in another order.
//
// tests/e2e/run loads the users with kcat before the tests and names them in
// CLUSTERLITE_E2E_BULK_USERS and CLUSTERLITE_E2E_BULK_TAG (every bulk email
// is `<tag>.<five digits>@bulk.example`); without them the tests are skipped.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL, NODE_URL, WAIT, launch, openUi, row, screenshot, api, uniqueEmail, deleteUsers, RUN_PREFIX,
} from './lib.js';

const BULK = Number(process.env.CLUSTERLITE_E2E_BULK_USERS || 0);
const TAG = process.env.CLUSTERLITE_E2E_BULK_TAG || '';
const field = (page, label) => page.locator('#user-dialog').getByLabel(label, { exact: true });
const ids = (page) => page.$$eval('#users-body tr', (rows) => rows.map((r) => r.dataset.id));
const firstEmail = (page) => page.evaluate(() => document.querySelector('#users-body tr')?.dataset.email);
const isList = (url) => /^\/users$/.test(new URL(url).pathname);

describe(`web UI on ${BULK.toLocaleString('en-US')} users`, { skip: !(BULK >= 50000 && TAG) && 'no bulk users (tests/e2e/run loads them with kcat)' }, () => {
  let browser;
  let page;

  before(async () => { browser = await launch(); });

  afterEach(async (t) => {
    if (page) {
      const name = `queries-${t.name}`.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase();
      await screenshot(page, name).catch((e) => console.error(`screenshot ${name}: ${e.message}`));
      await page.close().catch(() => {});
      page = null;
    }
  });

  after(async () => {
    await deleteUsers(RUN_PREFIX);
    if (browser) {
      const errors = [...browser.errors];
      await browser.close();
      assert.deepEqual(errors, [], 'the page raised no uncaught errors');
    }
  });

  it('lists newest first and shows a user created through the form at once, highlighted, at the top', async () => {
    page = await openUi(browser.context);
    assert.equal(await page.getByLabel('Order').inputValue(), '-id', 'newest first by default');
    const shown = await ids(page);
    assert.ok(shown.length > 1 && shown.every((id, i) => i === 0 || id < shown[i - 1]), 'ids descend');
    const newest = (await api('GET', '/users?order=-id&limit=1')).body[0];
    assert.equal(shown[0], newest.id, 'the first row is the newest user');

    // From here on every list answer is held back 3 s: whatever shows the
    // new user sooner is the page placing what the form saved.
    const held = [];
    await page.route((url) => isList(url.href), async (route) => {
      held.push(route.request().url());
      await new Promise((r) => setTimeout(r, 3000));
      await route.continue().catch(() => {});
    });
    const email = uniqueEmail('form');
    await page.getByRole('button', { name: 'New user' }).click();
    await field(page, 'Name').fill('Katherine Johnson');
    await field(page, 'Email').fill(email);
    await page.locator('#user-save').click();
    await page.locator('#user-dialog').waitFor({ state: 'hidden' });
    const closed = Date.now();
    await row(page, email).waitFor({ state: 'visible', timeout: 1000 });
    const after = Date.now() - closed;
    assert.equal(await firstEmail(page), email, 'the new user is the first row');
    assert.match(await row(page, email).getAttribute('class'), /\bsaved\b/, 'and is highlighted');
    assert.equal(await row(page, email).getAttribute('data-outside'), null, 'where it sorts, not set apart');
    assert.ok(after < 1000, `shown ${after} ms after the dialog closed`);
    await page.unroute((url) => isList(url.href));
    // The reload that follows agrees: still first, and the highlight fades.
    await page.waitForFunction((e) => !document.querySelector(`#users-body tr[data-email="${e}"]`).classList.contains('saved'),
      email, { timeout: WAIT });
    assert.equal(await firstEmail(page), email);
    assert.ok(held.length >= 1, 'the page reloaded the list after the write');
  });

  it('shows a user saved while the oldest come first at the top, marked as sorting on another page', async () => {
    page = await openUi(browser.context);
    await page.getByLabel('Order').selectOption('id');
    await page.waitForFunction(() => /^Bulk User 00000$/.test(document.querySelector('#users-body tr .user-name')?.textContent),
      null, { timeout: WAIT });
    const email = uniqueEmail('oldest');
    await page.getByRole('button', { name: 'New user' }).click();
    await field(page, 'Name').fill('Mary Jackson');
    await field(page, 'Email').fill(email);
    await page.locator('#user-save').click();
    await page.locator('#user-dialog').waitFor({ state: 'hidden' });
    const r = row(page, email);
    await r.waitFor({ state: 'visible', timeout: 1000 });
    assert.equal(await firstEmail(page), email, 'shown first');
    assert.equal(await r.getAttribute('data-outside'), 'true');
    assert.match(await r.textContent(), /sorts on another page/);
    // The list read again after the write keeps it there, the oldest users below it.
    await page.waitForFunction(() => document.querySelectorAll('#users-body tr').length === 26, null, { timeout: WAIT });
    assert.equal(await firstEmail(page), email);
    // Another page drops it: it is on the last one.
    await page.getByRole('button', { name: 'Next' }).click();
    await page.waitForFunction(() => document.getElementById('page-label').textContent === 'Page 2', null, { timeout: WAIT });
    await r.waitFor({ state: 'detached' });
  });

  it(`finds a user among them by email prefix, on the server`, async () => {
    page = await openUi(browser.context);
    const i = 31337 % BULK;
    const wanted = `${TAG}.${String(i).padStart(5, '0')}@bulk.example`;
    const prefix = wanted.slice(0, wanted.indexOf('@') - 1); // ten users: ...3133[0-9]
    const searched = page.waitForRequest((r) => isList(r.url()) && new URL(r.url()).searchParams.get('q') === prefix);
    assert.equal(await row(page, wanted).count(), 0, 'not on the first page before the search');
    await page.getByLabel('Search users by name or email').fill(prefix);
    await searched;
    await row(page, wanted).waitFor({ state: 'visible' });
    await page.waitForFunction(() => document.getElementById('users-summary').textContent === '10 matches', null, { timeout: WAIT });
    const emails = await page.$$eval('#users-body tr', (rows) => rows.map((r) => r.dataset.email));
    assert.equal(emails.length, 10);
    assert.ok(emails.every((e) => e.startsWith(prefix)), `every match starts with the prefix: ${emails}`);
    // Clearing the box returns to the plain list, newest first.
    await page.getByLabel('Search users by name or email').fill('');
    await page.waitForFunction(() => /^Showing 1–/.test(document.getElementById('users-summary').textContent), null, { timeout: WAIT });
    assert.equal(await row(page, wanted).count(), 0);
  });

  it('shows a user created through another node at the top, without a reload', async () => {
    page = await openUi(browser.context);
    await page.evaluate(() => { window.__noReload = true; });
    const email = uniqueEmail('node');
    const created = await api('POST', '/users', { base: NODE_URL, body: { name: 'Dorothy Vaughan', email } });
    assert.equal(created.status, 201, `POST ${NODE_URL}/users`);
    const answered = Date.now();
    await row(page, email).waitFor({ state: 'visible', timeout: 5000 });
    const shown = Date.now() - answered;
    assert.equal(await firstEmail(page), email, 'at the top of the newest-first list');
    assert.equal(await page.evaluate(() => window.__noReload), true, 'the page was not reloaded');
    console.log(`# shown ${shown} ms after the write was answered (live: ${await page.evaluate(() => document.body.dataset.live)})`);
  });

  it('pages by the Link cursor in another order, forwards and back', async () => {
    page = await openUi(browser.context);
    const requests = [];
    page.on('request', (r) => { if (isList(r.url())) requests.push(new URL(r.url()).searchParams); });
    await page.getByLabel('Order').selectOption('-created_at');
    await page.getByLabel('Per page').selectOption('10');
    await page.waitForFunction(() => document.querySelectorAll('#users-body tr').length === 10, null, { timeout: WAIT });
    const page1 = await ids(page);
    await page.getByRole('button', { name: 'Next' }).click();
    await page.waitForFunction(() => document.getElementById('page-label').textContent === 'Page 2', null, { timeout: WAIT });
    await page.waitForFunction((p1) => [...document.querySelectorAll('#users-body tr')].every((r) => !p1.includes(r.dataset.id)),
      page1, { timeout: WAIT });
    const next = requests.find((p) => p.get('cursor'));
    assert.ok(next && next.get('order') === '-created_at', 'page 2 was asked with the cursor of the Link header');
    const expected = await api('GET', `/users?${next}`);
    assert.deepEqual(await ids(page), expected.body.map((u) => u.id), 'page 2 is what the cursor names');
    await page.getByRole('button', { name: 'Previous' }).click();
    await page.waitForFunction(() => document.getElementById('page-label').textContent === 'Page 1', null, { timeout: WAIT });
    assert.deepEqual(await ids(page), page1);
  });
});
