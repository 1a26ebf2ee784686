// Browser tests of the schema-driven views: every table of GET /_schema has a
// tab, and a table that describes itself is listed, created, edited and
// deleted through forms built from its JSON Schema.
//
// The table under test (CLUSTERLITE_E2E_TABLE, default `products`) is found
// in /_schema and the tests read its schema for labels, constraints, defaults
// and the unique field; only the sample rows below know the product fields
// (sku, name, price_cents). tests/e2e/run declares products in its cluster's
// configuration for the schema plugin (docs/entities.md). The read-only JSON
// view is tested on a table whose plugin does not describe itself (the
// gadgets test plugin, deployed by run). Tests whose table is missing are
// skipped.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, RUN, WAIT, launch, screenshot, api, eventually } from './lib.js';

const TABLE = process.env.CLUSTERLITE_E2E_TABLE || 'products';
const PLAIN_TABLE = process.env.CLUSTERLITE_E2E_PLAIN_TABLE || 'gadgets';

const listed = await api('GET', '/_schema').catch(() => null);
const tables = listed && listed.status === 200 ? listed.body.tables : [];
const entry = tables.find((t) => t.table === TABLE && t.schema);
const plain = tables.find((t) => t.table === PLAIN_TABLE && t.schema === null);
const schema = entry ? entry.schema : { properties: {}, required: [] };
const props = schema.properties || {};
const title = (name) => (props[name] && props[name].title) || name;
// The UI's heading of a table: "order_items" -> "Order items".
const heading = (table) => table.replace(/_+/g, ' ').trim().replace(/^./, (c) => c.toUpperCase());
const noun = schema.title || 'row';

// Sample rows: names carry this run's tag (and are deleted at the end); SKUs
// are made unique to the run from three letters of its own and a counter.
const letters = [...RUN.toUpperCase().replace(/[^A-Z]/g, '') + 'QXZ'].slice(0, 3).join('');
let serial = Math.floor(Math.random() * 5000);
const sku = () => `${letters}-${String(1000 + (serial++ % 9000)).padStart(4, '0')}`;
const product = (label, extra = {}) => ({ sku: sku(), name: `${label} ${RUN}`, price_cents: 1999, ...extra });

async function createRow(body) {
  const res = await api('POST', `/${TABLE}`, { body });
  if (res.status !== 201) throw new Error(`POST /${TABLE} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

// Opens the UI on `table` (the address names it) and waits for its first list.
async function openTable(context, table = TABLE, { viewport } = {}) {
  const page = await context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  await page.goto(`${BASE_URL}/ui/#/${encodeURIComponent(table)}`, { waitUntil: 'load' });
  await page.waitForFunction(() => {
    const s = document.getElementById('table-summary');
    return s && s.textContent.trim() !== '';
  }, null, { timeout: WAIT });
  return page;
}

// The control of property `name` in the row dialog.
const control = (page, name) => page.locator(`#row-dialog .field[data-field="${name}"]`).locator('input, select, textarea');
const fieldError = (page, name) => page.locator(`#row-dialog .field[data-field="${name}"] .field-error`);
// The list row whose cells include `text`.
const rowWith = (page, text) => page.locator('#table-body tr').filter({ hasText: text });

describe(`web UI: the ${TABLE} table, built from its schema`, { skip: !entry && `no table ${TABLE} with a schema in ${BASE_URL}/_schema` }, () => {
  let browser;
  let page;

  before(async () => { browser = await launch(); });

  afterEach(async (t) => {
    if (page) {
      const name = `${TABLE}-${t.name}`.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase();
      await screenshot(page, name).catch((e) => console.error(`screenshot ${name}: ${e.message}`));
      await page.close().catch(() => {});
      page = null;
    }
  });

  after(async () => {
    // Remove the rows this run created.
    let after = '';
    for (let i = 0; i < 20; i++) {
      const res = await api('GET', `/${TABLE}?limit=1000${after ? `&after=${after}` : ''}`).catch(() => null);
      if (!res || res.status !== 200 || !res.body.length) break;
      for (const r of res.body) if (String(r.name).includes(RUN)) await api('DELETE', `/${TABLE}/${r.id}`).catch(() => {});
      if (res.body.length < 1000) break;
      after = res.body[res.body.length - 1].id;
    }
    if (browser) {
      const errors = [...browser.errors];
      await browser.close();
      assert.deepEqual(errors, [], 'the page raised no uncaught errors');
    }
  });

  it('lists every table of /_schema in the picker and switches between them', async () => {
    page = await browser.context.newPage();
    await page.goto(`${BASE_URL}/ui/`, { waitUntil: 'load' });
    const tabs = page.getByRole('tablist', { name: 'Tables' }).getByRole('tab');
    await eventually(async () => (await tabs.count()) === tables.length, WAIT, 'one tab per table');
    assert.deepEqual(await tabs.evaluateAll((els) => els.map((e) => e.dataset.table)).then((t) => [...t].sort()),
      tables.map((t) => t.table).sort());
    // users first and shown, as before.
    assert.equal(await tabs.first().getAttribute('data-table'), 'users');
    assert.equal(await tabs.first().getAttribute('aria-selected'), 'true');
    await page.waitForFunction(() => document.getElementById('users-summary').textContent.trim() !== '', null, { timeout: WAIT });

    await page.getByRole('tab', { name: heading(TABLE), exact: true }).click();
    await page.locator('#table-card').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#users-card').isVisible(), false, 'the users card is hidden');
    assert.equal((await page.locator('#table-title').textContent()).trim(), heading(TABLE));
    assert.equal(await page.getByRole('tab', { name: heading(TABLE), exact: true }).getAttribute('aria-selected'), 'true');
    assert.equal(new URL(page.url()).hash, `#/${TABLE}`, 'the address names the table');
    assert.equal(await page.title(), `${heading(TABLE)} · ClusterLite`);
    // Only the users view's elements (hidden) carry the users ids: one list at a time.
    assert.equal(await page.locator('#table-card').count(), 1);

    // A reload comes back to the table; the arrow keys move between tabs.
    await page.reload({ waitUntil: 'load' });
    await page.locator('#table-card').waitFor({ state: 'visible' });
    const selected = page.getByRole('tab', { selected: true });
    assert.equal(await selected.getAttribute('data-table'), TABLE);
    await selected.focus();
    await page.keyboard.press('Home');
    await page.locator('#users-card').waitFor({ state: 'visible' });
    assert.equal(await page.evaluate(() => document.activeElement.dataset.table), 'users', 'focus follows the tab');
    assert.equal(await page.locator('#table-card').count(), 0, 'the other view left the page');
    assert.equal(new URL(page.url()).hash, '', 'users is the page without a hash, as before');
  });

  it('builds the create form from the schema and creates a row', async () => {
    page = await openTable(browser.context);
    await page.locator('#table-card').getByRole('button', { name: `New ${noun}` }).click();
    const dialog = page.locator('#row-dialog');
    await dialog.waitFor({ state: 'visible' });

    // One labelled control per property the client may set; none for the
    // properties the server sets.
    for (const [name, p] of Object.entries(props)) {
      const c = control(page, name);
      if (p.readOnly) {
        assert.equal(await c.count(), 0, `${name} is set by the server: not in the create form`);
        continue;
      }
      assert.equal(await c.count(), 1, `a control for ${name}`);
      const labelled = dialog.getByLabel(title(name), { exact: true });
      assert.equal(await labelled.evaluate((el) => el.closest('.field').dataset.field), name, `${name} is labelled "${title(name)}"`);
      const attr = (a) => c.getAttribute(a);
      const tag = await c.evaluate((el) => el.tagName.toLowerCase());
      if (Array.isArray(p.enum)) {
        assert.equal(tag, 'select', `${name}: a select for an enum`);
        const options = await c.locator('option').evaluateAll((os) => os.filter((o) => o.value !== '').map((o) => o.textContent));
        assert.deepEqual(options, p.enum.map(String), `${name}: one option per enum value`);
      } else if (p.type === 'boolean') {
        assert.equal(await attr('type'), 'checkbox', `${name}: a checkbox`);
      } else if (p.type === 'integer' || p.type === 'number') {
        assert.equal(await attr('type'), 'number', `${name}: a number input`);
        if (p.minimum !== undefined) assert.equal(await attr('min'), String(p.minimum), `${name}: min`);
        if (p.maximum !== undefined) assert.equal(await attr('max'), String(p.maximum), `${name}: max`);
        if (p.type === 'integer') assert.equal(await attr('step'), '1', `${name}: whole numbers`);
      } else if (p.type === 'string') {
        if (p.maxLength !== undefined) assert.equal(await attr('maxlength'), String(p.maxLength), `${name}: maxlength`);
        if (p.pattern) assert.ok((await attr('pattern') || '').includes(p.pattern), `${name}: pattern attribute`);
      }
      // Defaults are filled in.
      if (Object.prototype.hasOwnProperty.call(p, 'default')) {
        if (p.type === 'boolean') assert.equal(await c.isChecked(), p.default, `${name}: default`);
        else if (Array.isArray(p.enum)) assert.equal(await c.evaluate((el) => el.selectedOptions[0].textContent), String(p.default), `${name}: default`);
        else assert.equal(await c.inputValue(), String(p.default), `${name}: default`);
      }
      // Required fields are marked.
      const mark = await page.locator(`#row-dialog .field[data-field="${name}"] .req`).count();
      assert.equal(mark > 0, (schema.required || []).includes(name) && p.type !== 'boolean', `${name}: required mark`);
      if ((schema.required || []).includes(name)) assert.equal(await attr('aria-required'), 'true', `${name}: aria-required`);
    }
    assert.equal(await page.evaluate(() => document.activeElement.closest('.field')?.dataset.field),
      Object.entries(props).find(([, p]) => !p.readOnly)[0], 'focus starts in the first field');

    // Markup in a value is text.
    const sample = product('<b id=evil-value>Bold</b> Widget');
    await control(page, 'sku').fill(sample.sku);
    await control(page, 'name').fill(sample.name);
    await control(page, 'price_cents').fill(String(sample.price_cents));
    await page.locator('#row-save').click();
    await dialog.waitFor({ state: 'hidden' });
    const r = rowWith(page, sample.sku);
    await r.waitFor({ state: 'visible' });
    assert.ok((await r.textContent()).includes(sample.name), 'the name is shown as it was typed');
    assert.equal(await page.locator('#evil-value').count(), 0, 'no element came from the value');

    // Stored with the schema's defaults.
    const id = await r.getAttribute('data-id');
    const stored = await api('GET', `/${TABLE}/${id}`);
    assert.equal(stored.status, 200);
    assert.equal(stored.body.sku, sample.sku);
    assert.equal(stored.body.name, sample.name);
    assert.equal(stored.body.price_cents, sample.price_cents);
    for (const [name, p] of Object.entries(props)) {
      if (!p.readOnly && Object.prototype.hasOwnProperty.call(p, 'default') && !(name in sample)) {
        assert.deepEqual(stored.body[name], p.default, `${name} has its default`);
      }
    }
    // The session position keeps read-your-writes on any node.
    const cookies = await browser.context.cookies();
    assert.ok(cookies.some((c) => c.name === 'clusterlite_position'), 'the write set the clusterlite_position cookie');
  });

  it('edits a row: read-only fields are shown, not editable', async () => {
    const enumProp = Object.entries(props).find(([, p]) => !p.readOnly && Array.isArray(p.enum) && p.enum.length > 1);
    const boolProp = Object.entries(props).find(([, p]) => !p.readOnly && p.type === 'boolean');
    const created = await createRow(product('Editable Gadget'));
    page = await openTable(browser.context);
    const r = page.locator(`#table-body tr[data-id="${created.id}"]`);
    await r.waitFor({ state: 'visible' });
    await r.getByRole('button', { name: `Edit ${created.name}` }).click();
    const dialog = page.locator('#row-dialog');
    await dialog.waitFor({ state: 'visible' });
    assert.equal((await dialog.locator('h2').textContent()).trim(), `Edit ${noun}`);
    for (const [name, p] of Object.entries(props)) {
      if (!p.readOnly) continue;
      const c = control(page, name);
      assert.equal(await c.count(), 1, `${name} is shown`);
      assert.equal(await c.getAttribute('readonly'), '', `${name} is read-only`);
      assert.equal(await c.inputValue(), String(created[name]), `${name} shows the stored value`);
    }
    assert.equal(await control(page, 'name').inputValue(), created.name);
    await control(page, 'name').fill(`Edited Gadget ${RUN}`);
    await control(page, 'price_cents').fill('4250');
    let want = { name: `Edited Gadget ${RUN}`, price_cents: 4250 };
    if (enumProp) {
      const [name, p] = enumProp;
      const other = p.enum.find((v) => v !== created[name]);
      await control(page, name).selectOption({ label: String(other) });
      want[name] = other;
    }
    if (boolProp) {
      const [name] = boolProp;
      await control(page, name).setChecked(!created[name]);
      want[name] = !created[name];
    }
    await page.getByRole('button', { name: 'Save changes' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await r.filter({ hasText: `Edited Gadget ${RUN}` }).waitFor({ state: 'visible' });
    const stored = await api('GET', `/${TABLE}/${created.id}`);
    assert.equal(stored.status, 200);
    for (const [k, v] of Object.entries(want)) assert.deepEqual(stored.body[k], v, `${k} was saved`);
    assert.equal(stored.body.sku, created.sku, 'untouched fields keep their value');
    assert.equal(stored.body.created_at, created.created_at);
    assert.equal(await page.evaluate(() => document.activeElement.dataset.action), 'edit', 'focus returns to the row');
  });

  it('deletes a row after confirmation', async () => {
    const created = await createRow(product('Doomed Gizmo'));
    page = await openTable(browser.context);
    const r = page.locator(`#table-body tr[data-id="${created.id}"]`);
    await r.waitFor({ state: 'visible' });
    const dialog = page.locator('#row-confirm-dialog');

    await r.getByRole('button', { name: `Delete ${created.name}` }).click();
    await dialog.waitFor({ state: 'visible' });
    assert.ok((await dialog.textContent()).includes(created.name));
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    assert.equal((await api('GET', `/${TABLE}/${created.id}`)).status, 200, 'cancelling keeps the row');

    await r.getByRole('button', { name: `Delete ${created.name}` }).click();
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
    await r.waitFor({ state: 'detached' });
    assert.equal((await api('GET', `/${TABLE}/${created.id}`)).status, 404);
  });

  it('shows a value below the minimum beside its field', async () => {
    const [name, p] = Object.entries(props).find(([, q]) => !q.readOnly && q.type === 'integer' && q.minimum !== undefined);
    page = await openTable(browser.context);
    const posts = [];
    page.on('request', (req) => { if (req.method() === 'POST') posts.push(req.url()); });
    await page.locator('#table-card').getByRole('button', { name: `New ${noun}` }).click();
    const sample = product('Too Cheap');
    await control(page, 'sku').fill(sample.sku);
    await control(page, 'name').fill(sample.name);
    await control(page, 'price_cents').fill(String(sample.price_cents));
    await control(page, name).fill(String(p.minimum - 1));
    await page.locator('#row-save').click();
    await eventually(async () => (await fieldError(page, name).textContent()).trim() !== '', WAIT, 'the error beside the field');
    assert.match(await fieldError(page, name).textContent(), new RegExp(`at least ${p.minimum}`));
    assert.equal(await control(page, name).getAttribute('aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement.closest('.field')?.dataset.field), name, 'focus moves to the field');
    assert.ok(await page.locator('#row-dialog').isVisible(), 'the form stays open');
    const others = await page.locator('#row-dialog .field-error').evaluateAll((els) => els.filter((e) => e.textContent.trim()).length);
    assert.equal(others, 1, 'no error beside the other fields');
    assert.deepEqual(posts, [], 'nothing was sent');
    // Correcting the value clears the error.
    await control(page, name).fill(String(p.minimum));
    assert.equal((await fieldError(page, name).textContent()).trim(), '');
  });

  it('shows the server\'s answer beside its field: a 400 and a duplicate unique value (409)', async () => {
    const unique = (schema['x-unique'] || [])[0];
    assert.ok(unique, 'the schema names a unique field');
    const first = await createRow(product('First Owner'));
    page = await openTable(browser.context);
    await page.locator('#table-card').getByRole('button', { name: `New ${noun}` }).click();
    const sample = product('Second Owner', { [unique]: first[unique] });
    for (const k of ['sku', 'name', 'price_cents']) await control(page, k).fill(String(sample[k]));
    const answer = page.waitForResponse((res) => res.request().method() === 'POST' && new URL(res.url()).pathname === `/${TABLE}`);
    await page.locator('#row-save').click();
    assert.equal((await answer).status(), 409);
    await eventually(async () => (await fieldError(page, unique).textContent()).trim() !== '', WAIT, 'the conflict beside the field');
    assert.match(await fieldError(page, unique).textContent(), /already|in use|exists|taken|unique/i);
    assert.equal(await control(page, unique).getAttribute('aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement.closest('.field')?.dataset.field), unique);
    assert.ok(await page.locator('#row-dialog').isVisible(), 'the form stays open');
    assert.equal(await page.locator('#row-form-error').isVisible(), false, 'no error at the top of the form');

    // A 400 from the server (the browser's check passed: the server's rule is
    // its own) lands beside the field the problem names. Made here by a
    // route that answers the next POST as a server would.
    await page.route(`**/${TABLE}`, (route) => route.request().method() === 'POST'
      ? route.fulfill({
        status: 400, contentType: 'application/problem+json',
        body: JSON.stringify({ title: 'Bad Request', status: 400, detail: 'name is reserved <b id=evil-detail>x</b>', field: 'name' }),
      })
      : route.continue());
    await control(page, unique).fill(sku());
    await page.locator('#row-save').click();
    await eventually(async () => (await fieldError(page, 'name').textContent()).includes('name is reserved'), WAIT, 'the 400 beside name');
    assert.equal(await page.locator('#evil-detail').count(), 0, 'the detail is text');
    assert.equal((await fieldError(page, unique).textContent()).trim(), '', 'the earlier conflict is gone');
  });

  it('pages through the rows with the cursor and filters the page', async () => {
    const first = await api('GET', `/${TABLE}?limit=11`);
    for (let i = first.body.length; i < 11; i++) await createRow(product(`Pager ${i}`));
    page = await openTable(browser.context);
    const card = page.locator('#table-card');
    await card.getByLabel('Per page').selectOption('10');
    const ids = () => page.$$eval('#table-body tr', (rows) => rows.map((r) => r.dataset.id));
    await page.waitForFunction(() => document.querySelectorAll('#table-body tr').length === 10, null, { timeout: WAIT });
    const page1 = await ids();
    const next = card.getByRole('button', { name: 'Next' });
    assert.equal(await next.isDisabled(), false, 'Next is enabled when the API sent a Link: rel="next"');
    await next.click();
    await page.waitForFunction(() => document.getElementById('table-page-label').textContent === 'Page 2', null, { timeout: WAIT });
    await page.waitForFunction((p1) => {
      const rows = [...document.querySelectorAll('#table-body tr')].map((r) => r.dataset.id);
      return rows.length > 0 && rows.every((id) => !p1.includes(id));
    }, page1, { timeout: WAIT });
    const page2 = await ids();
    // Newest first by default: ids are time-ordered (UUIDv7), so page 2 holds older ones.
    assert.ok(page2[0] < page1[page1.length - 1], 'page 2 continues before the last id of page 1');
    await card.getByRole('button', { name: 'Previous' }).click();
    await page.waitForFunction(() => document.getElementById('table-page-label').textContent === 'Page 1', null, { timeout: WAIT });
    assert.deepEqual(await ids(), page1);
    assert.equal(await card.getByRole('button', { name: 'Previous' }).isDisabled(), true);

    // The filter narrows the loaded page, and says so.
    const target = (await api('GET', `/${TABLE}/${page1[3]}`)).body;
    assert.match(await card.locator('#table-filter-note').textContent(), /only .* this page/);
    await card.getByRole('searchbox').fill(target.sku.toLowerCase());
    await page.waitForFunction(() => /1 of 10 rows on this page match/.test(document.getElementById('table-summary').textContent),
      null, { timeout: WAIT });
    assert.deepEqual(await page.$$eval('#table-body tr:not([hidden])', (rows) => rows.map((r) => r.dataset.id)), [target.id]);
    await card.getByRole('searchbox').fill('');
    await page.waitForFunction(() => document.querySelectorAll('#table-body tr:not([hidden])').length === 10, null, { timeout: WAIT });
  });

  it('fits a 375 px phone screen', async () => {
    await createRow(product('Phone Layout With A Rather Long Product Name'));
    page = await openTable(browser.context, TABLE, { viewport: { width: 375, height: 812 } });
    await page.locator('#table-body tr').first().waitFor({ state: 'visible' });
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `the page is ${width} px wide; it must not scroll sideways`);
    const box = await page.locator('#table-body tr').first().getByRole('button', { name: /^Edit / }).boundingBox();
    assert.ok(box && box.x + box.width <= 375, 'the row buttons stay on screen');
  });
});

describe(`web UI: a table that does not describe itself (${PLAIN_TABLE})`, { skip: !plain && `no table ${PLAIN_TABLE} without a schema in ${BASE_URL}/_schema` }, () => {
  let browser;
  let page;
  before(async () => { browser = await launch(); });
  after(async () => {
    const res = await api('GET', `/${PLAIN_TABLE}?limit=1000`).catch(() => null);
    if (res && res.status === 200) {
      for (const r of res.body) if (String(r.name).includes(RUN)) await api('DELETE', `/${PLAIN_TABLE}/${r.id}`).catch(() => {});
    }
    if (browser) {
      const errors = [...browser.errors];
      await browser.close();
      assert.deepEqual(errors, [], 'the page raised no uncaught errors');
    }
  });
  afterEach(async () => {
    if (page) {
      await screenshot(page, `${PLAIN_TABLE}-json-read-only`).catch(() => {});
      await page.close().catch(() => {});
      page = null;
    }
  });

  it('shows its rows as JSON, read-only, with a note', async () => {
    const name = `<i id=evil-json>Plain</i> ${RUN}`;
    const created = await api('POST', `/${PLAIN_TABLE}`, { body: { name, serial: `S-${RUN}` } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    page = await openTable(browser.context, PLAIN_TABLE);
    await page.locator('#table-note').waitFor({ state: 'visible' });
    assert.match(await page.locator('#table-note').textContent(), /does not describe/);
    const r = page.locator(`#table-body tr[data-id="${created.body.id}"]`);
    await r.waitFor({ state: 'visible' });
    assert.deepEqual(JSON.parse(await r.locator('pre').textContent()), created.body);
    assert.equal(await page.locator('#evil-json').count(), 0, 'the value is text');
    assert.equal(await page.locator('#table-card').getByRole('button', { name: /^New / }).count(), 0, 'no New button');
    assert.equal(await r.getByRole('button').count(), 0, 'no Edit or Delete');
  });
});

describe('web UI: hostile schemas (intercepted /_schema of a made-up table)', () => {
  let browser;
  let page;
  before(async () => {
    const health = await api('GET', '/healthz').catch((e) => ({ status: String(e) }));
    assert.equal(health.status, 200, `${BASE_URL}/healthz must answer 200 before the browser tests run`);
    browser = await launch();
  });
  after(async () => {
    const errors = browser ? [...browser.errors] : [];
    if (browser) await browser.close();
    assert.deepEqual(errors, [], 'the page raised no uncaught errors');
  });
  afterEach(async () => {
    if (page) {
      await screenshot(page, 'tables-hostile-schema').catch(() => {});
      await page.close().catch(() => {});
      page = null;
    }
  });

  it('shows markup in table names, titles, property names, enum values and rows as text', async () => {
    const evil = (id) => `<img src=x id=${id} onerror="window.__pwned = '${id}'">`;
    const table = `t${evil('evil-table')}`;
    const hostile = {
      table, plugin: evil('evil-plugin'), version: 1, schema_sha256: '0123456789abcdef',
      schema: {
        type: 'object', title: evil('evil-title'), description: evil('evil-description'),
        properties: {
          id: { type: 'string', readOnly: true },
          [evil('evil-prop')]: { type: 'string', title: evil('evil-label'), description: evil('evil-hint'), pattern: '(' },
          kind: { type: 'string', enum: [evil('evil-enum'), 'plain'], default: 'plain' },
          count: { type: 'integer', minimum: 0, title: '"><svg id=evil-svg onload="window.__pwned=1">' },
        },
        required: [evil('evil-prop')],
        'x-unique': [evil('evil-prop')],
      },
    };
    const rows = [{ id: `r1${evil('evil-id')}`, [evil('evil-prop')]: evil('evil-cell'), kind: evil('evil-enum'), count: 3 }];
    page = await browser.context.newPage();
    await page.route('**/_schema', async (route) => {
      const real = await route.fetch();
      const body = await real.json();
      body.tables.push(hostile);
      await route.fulfill({ response: real, body: JSON.stringify(body) });
    });
    await page.route((url) => url.pathname.startsWith('/t%3Cimg'), (route) => route.fulfill({
      status: 200, contentType: 'application/json', body: JSON.stringify(rows),
    }));
    await page.goto(`${BASE_URL}/ui/#/${encodeURIComponent(table)}`, { waitUntil: 'load' });
    await page.locator(`#table-body tr`).first().waitFor({ state: 'visible' });
    const tab = page.getByRole('tab', { selected: true });
    assert.equal(await tab.getAttribute('data-table'), table);
    assert.equal((await tab.textContent()).trim(), heading(table));
    assert.equal((await page.locator('#table-title').textContent()).trim(), heading(table));
    assert.ok((await page.locator('#table-card').textContent()).includes(evil('evil-description')));
    assert.ok((await page.locator('#data-table thead').textContent()).includes(evil('evil-label')));
    assert.ok((await page.locator('#table-body').textContent()).includes(evil('evil-cell')));
    await page.locator('#table-card').getByRole('button', { name: /^New / }).click();
    await page.locator('#row-dialog').waitFor({ state: 'visible' });
    const dialogText = await page.locator('#row-dialog').textContent();
    for (const id of ['evil-title', 'evil-label', 'evil-hint', 'evil-enum']) assert.ok(dialogText.includes(evil(id)), `${id} shown as text`);
    // A pattern this browser cannot compile is left to the server.
    assert.equal(await page.locator('#row-dialog input[pattern]').count(), 0);
    await page.locator('#row-dialog').getByRole('button', { name: 'Cancel' }).click();
    await page.locator('#table-body tr').first().getByRole('button', { name: /^Delete / }).click();
    assert.ok((await page.locator('#row-confirm-dialog').textContent()).includes(evil('evil-id')));
    await page.locator('#row-confirm-dialog').getByRole('button', { name: 'Cancel' }).click();
    for (const id of ['evil-table', 'evil-plugin', 'evil-title', 'evil-description', 'evil-prop', 'evil-label',
      'evil-hint', 'evil-enum', 'evil-svg', 'evil-cell', 'evil-id']) {
      assert.equal(await page.locator(`[id="${id}"]`).count(), 0, `no element ${id}`);
    }
    assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no script ran');
    assert.equal(await page.locator('img').count(), 0, 'no image element at all');
  });
});
