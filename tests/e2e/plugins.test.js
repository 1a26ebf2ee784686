// Browser tests of the cluster panel's plugin view: each node's plugins
// (table, name, version, sha256) and pending tables, and the warnings shown
// when nodes disagree about a table's plugin.
//
// 1. Real nodes that differ for real: five nodes on one Kafka topic of their
//    own, each with a plugins directory of its own (users version 1, the same
//    file again, users version 2, version 1 with other bytes, no plugin at
//    all). A small proxy in this file plays the launcher's nginx: it serves
//    the UI from a node and, per scenario, a cluster.json naming a subset of
//    the nodes, each reached under /_node/<id>/. Needs CLUSTERLITE_KAFKA_BROKERS,
//    the node binary, build/plugins/users.so and the users_v2 test fixture
//    (build/fixture-plugins/users_v2/users.so).
// 2. Hostile names (unit-level, with intercepted responses): the UI of the
//    cluster under test, with playwright's route() answering cluster.json and
//    the status of one made-up node whose plugin, table and node names are
//    markup. Everything else comes from the real node.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdtemp, mkdir, copyFile, appendFile, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASE_URL, RUN, WAIT, launch, screenshot, api, uniqueEmail, eventually } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const build = path.resolve(repo, process.env.CLUSTERLITE_BUILD_DIR || 'build');
const NODE_BIN = path.join(build, 'bin', 'clusterlite');
const USERS_V1 = path.join(build, 'plugins', 'users.so');
const USERS_V2 = path.join(build, 'fixture-plugins', 'users_v2', 'users.so');
const DELETE_TOPICS = path.join(build, 'bin', 'clusterlite-delete-topics');
const BROKERS = process.env.CLUSTERLITE_KAFKA_BROKERS || '';

const sha256 = async (file) => createHash('sha256').update(await readFile(file)).digest('hex');

// The text of the warnings above the node cards, one string each.
const warnings = (page) => page.$$eval('#cluster-warnings li', (items) => items.map((li) => li.textContent));

// Waits until every card shows the status of its node (cards that list
// their plugins or say they have none), so the warnings are computed from
// all of them.
async function waitForCards(page, count) {
  await page.waitForFunction((n) => {
    const cards = [...document.querySelectorAll('#nodes .node')];
    return cards.length === n && cards.every((c) => c.dataset.state !== 'down'
      && (c.querySelectorAll('table.plugins tbody tr').length > 0 || /none loaded/.test(c.textContent)));
  }, count, { timeout: WAIT });
}

// The plugin rows of one node's card: [{table, name, version, sha}].
const pluginRows = (page, node) => page.$$eval(`#nodes .node[data-node="${node}"] table.plugins tbody tr`,
  (rows) => rows.map((r) => {
    const cells = [...r.cells].map((td) => td.textContent);
    return { table: cells[0], name: cells[1], version: cells[2], sha: cells[3] };
  }));

async function saveScreenshot(page, name) {
  if (page) await screenshot(page, name).catch((e) => console.error(`screenshot ${name}: ${e.message}`));
}

// ---------------------------------------------------------------------------
// 1. Real nodes.

const realSkip = !BROKERS ? 'CLUSTERLITE_KAFKA_BROKERS unset (the nodes share a Kafka topic)'
  : !existsSync(NODE_BIN) ? `${NODE_BIN} not built`
    : !existsSync(USERS_V1) ? `${USERS_V1} not built`
      : !existsSync(USERS_V2) ? `${USERS_V2} not built (the users_v2 test fixture; build with tests on)`
        : false;

// Starts a node in replica mode on `topic`, on a free port, and resolves to
// {id, url, stop()} once it answers /readyz.
async function startNode(id, { dir, plugins, topic }) {
  const log = path.join(dir, `${id}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(NODE_BIN, [], {
    env: {
      ...process.env,
      CLUSTERLITE_NODE_ID: id,
      CLUSTERLITE_MODE: 'replica',
      CLUSTERLITE_HTTP_ADDRESS: '127.0.0.1',
      CLUSTERLITE_HTTP_PORT: '0',
      CLUSTERLITE_DB_PATH: path.join(dir, `${id}.db`),
      CLUSTERLITE_PLUGINS_DIR: plugins,
      CLUSTERLITE_UI_DIR: path.join(repo, 'web'),
      CLUSTERLITE_KAFKA_BROKERS: BROKERS,
      CLUSTERLITE_KAFKA_TOPIC: topic,
      CLUSTERLITE_READ_TOKENS: '',
      CLUSTERLITE_WRITE_TOKENS: '',
    },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  let exited = null;
  child.on('exit', (code, signal) => { exited = signal || code; });
  const node = {
    id,
    url: null,
    async stop() {
      if (exited !== null) return;
      const done = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
      await done;
      clearTimeout(timer);
    },
  };
  const end = Date.now() + 60000;
  for (;;) {
    if (exited !== null) throw new Error(`node ${id} exited (${exited}); its log:\n${await readFile(log, 'utf8')}`);
    const m = (await readFile(log, 'utf8')).match(/serving on 127\.0\.0\.1:(\d+) /);
    if (m) {
      node.url = `http://127.0.0.1:${m[1]}`;
      const ready = await fetch(`${node.url}/readyz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
      if (ready) return node;
    }
    if (Date.now() > end) {
      await node.stop();
      throw new Error(`node ${id} did not become ready; its log:\n${await readFile(log, 'utf8')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

// Plays the launcher's nginx for several made-up clusters at once:
//   /s/<scenario>/ui/cluster.json        the scenario's nodes, [{name, prefix}]
//   /s/<scenario>/_node/<id>/<rest>      node <id>'s /<rest>
//   /s/<scenario>/<rest>                 the scenario's first node's /<rest> (the UI, the API)
// `scenarios` maps a name to a list of node ids; `nodes` maps an id to its URL.
function startProxy(nodes, scenarios) {
  const server = http.createServer((req, res) => {
    const m = req.url.match(/^\/s\/([a-z0-9-]+)(\/.*)$/);
    const list = m && scenarios[m[1]];
    if (!list) { res.writeHead(404).end(); return; }
    let rest = m[2];
    if (rest === '/ui/cluster.json') {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(JSON.stringify(list.map((id) => ({ name: id, prefix: `/_node/${id}` }))));
      return;
    }
    let target = nodes[list[0]];
    const n = rest.match(/^\/_node\/([a-z0-9-]+)(\/.*)$/);
    if (n) {
      if (!list.includes(n[1])) { res.writeHead(404).end(); return; }
      target = nodes[n[1]];
      rest = n[2];
    }
    const upstream = http.request(`${target}${rest}`, { method: req.method, headers: { ...req.headers, host: new URL(target).host } },
      (up) => { res.writeHead(up.statusCode, up.headers); up.pipe(res); });
    upstream.on('error', () => { if (!res.headersSent) res.writeHead(502); res.end(); });
    req.pipe(upstream);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  })));
}

describe('cluster panel: plugins of real nodes that differ', { skip: realSkip }, () => {
  const topic = `e2e_plugins_${RUN}`;
  // node-1 and node-2: users version 1, the same file; node-3: users version 2;
  // node-4: users version 1 with other bytes (another build of the same
  // version); node-5: no plugin.
  const layout = { 'node-1': 'v1', 'node-2': 'v1', 'node-3': 'v2', 'node-4': 'v1-rebuilt', 'node-5': 'none' };
  const scenarios = {
    agree: ['node-1', 'node-2'],
    versions: ['node-1', 'node-2', 'node-3'],
    builds: ['node-1', 'node-2', 'node-4'],
    missing: ['node-1', 'node-2', 'node-5'],
    pending: ['node-3', 'node-1', 'node-5'],
  };
  let dir;
  let browser;
  let proxy;
  let page;
  const nodes = [];
  const sha = {};

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'clusterlite-e2e-plugins-'));
    const plugins = {};
    for (const kind of new Set(Object.values(layout))) {
      plugins[kind] = path.join(dir, `plugins-${kind}`);
      await mkdir(plugins[kind]);
    }
    await copyFile(USERS_V1, path.join(plugins.v1, 'users.so'));
    await copyFile(USERS_V2, path.join(plugins.v2, 'users.so'));
    await copyFile(USERS_V1, path.join(plugins['v1-rebuilt'], 'users.so'));
    // Bytes after the end of the ELF file: loaded the same, another sha256.
    await appendFile(path.join(plugins['v1-rebuilt'], 'users.so'), `\nanother build ${RUN}\n`);
    for (const kind of ['v1', 'v2', 'v1-rebuilt']) sha[kind] = await sha256(path.join(plugins[kind], 'users.so'));

    // The first node creates the topic; the others join it.
    const ids = Object.keys(layout);
    nodes.push(await startNode(ids[0], { dir, plugins: plugins[layout[ids[0]]], topic }));
    nodes.push(...await Promise.all(ids.slice(1).map((id) => startNode(id, { dir, plugins: plugins[layout[id]], topic }))));
    proxy = await startProxy(Object.fromEntries(nodes.map((n) => [n.id, n.url])), scenarios);
    browser = await launch();
  });

  afterEach(async (t) => {
    await saveScreenshot(page, `plugins-${t.name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase()}`);
    if (page) await page.close().catch(() => {});
    page = null;
  });

  after(async () => {
    const errors = browser ? [...browser.errors] : [];
    if (browser) await browser.close();
    if (proxy) await proxy.close();
    await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
    if (existsSync(DELETE_TOPICS)) {
      await new Promise((resolve) => execFile(DELETE_TOPICS, [BROKERS, topic], { timeout: 30000 }, () => resolve()));
    }
    if (dir) await rm(dir, { recursive: true, force: true });
    assert.deepEqual(errors, [], 'the page raised no uncaught errors');
  });

  async function open(scenario) {
    page = await browser.context.newPage();
    await page.goto(`${proxy.url}/s/${scenario}/ui/`, { waitUntil: 'load' });
    await waitForCards(page, scenarios[scenario].length);
    return page;
  }

  const node = (id) => nodes.find((n) => n.id === id);

  // Runs first: the tests after it write, and writes make nodes hold events.
  it('shows each node\'s plugins and no warning when the nodes agree', async () => {
    await open('agree');
    for (const id of scenarios.agree) {
      assert.deepEqual(await pluginRows(page, id), [{ table: 'users', name: 'users', version: '1', sha: sha.v1.slice(0, 12) }],
        `${id} lists users version 1 with the first 12 hex digits of its sha256`);
      assert.equal(await page.locator(`#nodes .node[data-node="${id}"]`).getAttribute('data-state'), 'ok');
    }
    // One more refresh cycle changes nothing.
    await page.waitForTimeout(2500);
    assert.deepEqual(await warnings(page), []);
    assert.equal(await page.locator('#cluster-warnings').isHidden(), true, 'the warnings list is hidden');
    assert.equal(await page.locator('#nodes .node-pending li').count(), 0, 'no pending table');
  });

  it('warns when nodes run different versions of a plugin', async () => {
    await open('versions');
    await page.locator('#cluster-warnings li[data-kind="version"]').waitFor({ state: 'visible' });
    assert.deepEqual(await warnings(page), [
      'users: node-3 runs version 2, node-1 and node-2 version 1 — a rollout is in progress or incomplete',
    ]);
    assert.deepEqual(await pluginRows(page, 'node-3'), [{ table: 'users', name: 'users', version: '2', sha: sha.v2.slice(0, 12) }]);
  });

  it('warns when nodes run the same version built differently (sha256)', async () => {
    await open('builds');
    await page.locator('#cluster-warnings li[data-kind="build"]').waitFor({ state: 'visible' });
    assert.notEqual(sha.v1, sha['v1-rebuilt']);
    assert.deepEqual(await warnings(page), [
      `users: version 1 is not the same build on every node — node-1 and node-2 have sha256 ${sha.v1.slice(0, 12)}, `
        + `node-4 sha256 ${sha['v1-rebuilt'].slice(0, 12)}; a plugin that changed must raise its version`,
    ]);
    assert.deepEqual(await pluginRows(page, 'node-4'),
      [{ table: 'users', name: 'users', version: '1', sha: sha['v1-rebuilt'].slice(0, 12) }]);
  });

  it('warns when a table is served by some nodes and not by others', async () => {
    await open('missing');
    await page.locator('#cluster-warnings li[data-kind="missing"]').waitFor({ state: 'visible' });
    assert.deepEqual(await warnings(page), [
      'users: node-1 and node-2 serve it, node-5 has no plugin for it — a rollout is in progress or incomplete',
    ]);
    assert.deepEqual(await pluginRows(page, 'node-5'), []);
    assert.match(await page.locator('#nodes .node[data-node="node-5"]').textContent(), /Plugins: none loaded/);
  });

  it('warns about pending tables: a node without the plugin, a node with an older version', async () => {
    // A write through node-1 (version 1): node-5, without a users plugin, holds it.
    const first = await api('POST', '/users', { base: node('node-1').url, body: { name: 'Held Once', email: uniqueEmail('held') } });
    assert.equal(first.status, 201, `POST ${node('node-1').url}/users: ${JSON.stringify(first.body)}`);
    await eventually(async () => {
      const s = await api('GET', '/_cluster/status', { base: node('node-5').url });
      return (s.body.pending_tables || []).some((t) => t.table === 'users' && t.held_events >= 1);
    }, WAIT, 'node-5 to hold the users event');
    // A write through node-3 (version 2): node-1 (version 1) holds it.
    const second = await api('POST', '/users', { base: node('node-3').url, body: { name: 'Held Twice', email: uniqueEmail('held') } });
    assert.equal(second.status, 201, `POST ${node('node-3').url}/users: ${JSON.stringify(second.body)}`);
    await eventually(async () => {
      const s = await api('GET', '/_cluster/status', { base: node('node-1').url });
      return (s.body.pending_tables || []).some((t) => t.table === 'users' && t.needs_plugin_version === 2);
    }, WAIT, 'node-1 to hold the version 2 event');
    await eventually(async () => {
      const s = await api('GET', '/_cluster/status', { base: node('node-5').url });
      return (s.body.pending_tables || []).some((t) => t.table === 'users' && t.held_events === 2);
    }, WAIT, 'node-5 to hold both users events');
    const held1 = (await api('GET', '/_cluster/status', { base: node('node-1').url })).body.pending_tables[0];
    const held5 = (await api('GET', '/_cluster/status', { base: node('node-5').url })).body.pending_tables[0];
    const events = (n) => `${n} held event${n === 1 ? '' : 's'} wait${n === 1 ? 's' : ''}`;

    await open('pending');
    await page.locator('#cluster-warnings li[data-kind="pending"]').nth(1).waitFor({ state: 'visible' });
    const texts = await warnings(page);
    assert.deepEqual(texts, [
      'users: node-3 and node-1 serve it, node-5 has no plugin for it — a rollout is in progress or incomplete',
      'users: node-3 runs version 2, node-1 version 1 — a rollout is in progress or incomplete',
      `users: pending on node-1 — ${events(held1.held_events)} for plugin version 2 or later; `
        + 'reads of users there answer 503 until then',
      `users: pending on node-5 — ${events(held5.held_events)} for plugin version 2 or later; `
        + 'reads of users there answer 503 until then',
    ]);
    // Each card lists its own pending tables with the count and the node's reason.
    for (const [id, held] of [['node-1', held1], ['node-5', held5]]) {
      const card = page.locator(`#nodes .node[data-node="${id}"]`);
      assert.equal(await card.getAttribute('data-state'), 'warn');
      assert.equal(await card.locator('.badge').textContent(), 'Table pending');
      const item = card.locator('.node-pending li[data-table="users"]');
      assert.equal(await item.isVisible(), true);
      const text = await item.textContent();
      assert.ok(text.includes(`users pending: ${held.held_events} held event`), text);
      assert.ok(text.includes(held.reason), `the reason "${held.reason}" is shown: ${text}`);
    }
    assert.match(held1.reason, /version 2/);
    assert.match(held5.reason, /no plugin serves table users/);
    assert.equal(await page.locator('#nodes .node[data-node="node-3"] .node-pending li').count(), 0);
  });
});

// ---------------------------------------------------------------------------
// 2. Hostile names. Unit-level: route() answers cluster.json and the status
// and health of a made-up node; the page, its scripts and the first node's
// status are real.

describe('cluster panel: hostile plugin and node names (intercepted status of a made-up node)', () => {
  let browser;
  let page;
  before(async () => {
    const health = await api('GET', '/healthz').catch((e) => ({ status: String(e) }));
    assert.equal(health.status, 200, `${BASE_URL}/healthz must answer 200 before the browser tests run`);
    browser = await launch();
  });
  afterEach(async () => {
    await saveScreenshot(page, 'plugins-hostile-names');
    if (page) await page.close().catch(() => {});
    page = null;
  });
  after(async () => {
    const errors = browser ? [...browser.errors] : [];
    if (browser) await browser.close();
    assert.deepEqual(errors, [], 'the page raised no uncaught errors');
  });

  it('shows markup in names as text and warns about them', async () => {
    const evilNode = '<img src=x id=evil-node>';
    const evilTable = '<script id=evil-table>window.__pwned = 1</script>';
    const evilName = '<img src=x id=evil-plugin onerror="window.__pwned = 2">';
    const evilReason = '<b id=evil-reason>held</b> & "quoted"';
    const evilSha = '"><svg id=evil-sha onload="window.__pwned = 3"></svg>0123456789abcdef';
    page = await browser.context.newPage();
    await page.route('**/ui/cluster.json', (route) => route.fulfill({
      contentType: 'application/json',
      body: JSON.stringify([{ name: 'real', prefix: '' }, { name: evilNode, prefix: '/_made_up_node' }]),
    }));
    await page.route('**/_made_up_node/healthz', (route) => route.fulfill({
      contentType: 'application/json', body: JSON.stringify({ status: 'ok' }),
    }));
    await page.route('**/_made_up_node/_cluster/status', async (route) => {
      // The real node's status, with its plugins replaced by hostile ones.
      const real = await route.fetch({ url: `${BASE_URL}/_cluster/status` });
      const status = await real.json();
      status.node_id = evilNode;
      status.plugins = [{ name: evilName, table: evilTable, version: 3, abi: 2, sha256: evilSha }];
      status.pending_tables = [{ table: evilTable, held_events: 2, needs_plugin_version: 3, reason: evilReason }];
      await route.fulfill({ response: real, body: JSON.stringify(status) });
    });
    await page.goto(`${BASE_URL}/ui/`, { waitUntil: 'load' });
    await page.locator('#cluster-warnings li[data-kind="pending"]').waitFor({ state: 'visible' });

    const texts = await warnings(page);
    assert.ok(texts.some((t) => t.startsWith(`${evilTable}: ${evilNode} serves it, real has no plugin for it`)),
      texts.join('\n'));
    assert.ok(texts.some((t) => t.startsWith(`${evilTable}: pending on ${evilNode} — 2 held events wait`)),
      texts.join('\n'));
    const card = page.locator('#nodes .node').nth(1);
    assert.equal(await card.locator('.node-name').textContent(), evilNode);
    assert.deepEqual(await card.locator('table.plugins tbody td').allTextContents(),
      [evilTable, evilName, '3', evilSha.slice(0, 12)]);
    assert.ok((await card.locator('.node-pending').textContent()).includes(evilReason));
    // None of it became markup.
    assert.equal(await page.locator('#evil-node, #evil-table, #evil-plugin, #evil-reason, #evil-sha').count(), 0);
    assert.equal(await page.locator('#nodes img, #nodes script, #nodes svg, #cluster-warnings *:not(li)').count(), 0);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
  });
});
