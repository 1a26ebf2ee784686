// ClusterLite console: wires the table picker and the view of each table, the
// cluster panel, the API token prompt and the live updates: the change stream
// (GET /_changes) says when to reload, and a 2-second refresh stands in
// while the stream is down.
import { onServedBy, setAuthHandler, getToken, setToken, ApiError, apiUrl } from './api.js';
import { ClusterPanel } from './cluster.js';
import { h } from './dom.js';
import { fetchTables, humanize } from './schema.js';
import { TableView } from './table.js';
import { UsersView } from './users.js';

const REFRESH_MS = 2000;
// While the stream is up the cluster panel is still read now and then: a
// node that stops sends no change.
const CLUSTER_EVERY_MS = 15000;
const $ = (id) => document.getElementById(id);

let toastTimer;
function toast(message) {
  const el = $('toast');
  el.textContent = message;
  el.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove('show'), 3000);
}

// Token prompt: concurrent 401s share one dialog.
let pendingToken = null;
function askToken(reason) {
  if (pendingToken) return pendingToken;
  const dialog = $('token-dialog');
  const input = $('token-input');
  if (reason) $('token-reason').textContent = `${reason} It is kept for this browser tab only and sent as a Bearer token.`;
  input.value = getToken();
  pendingToken = new Promise((resolve) => {
    const form = $('token-form');
    const done = (token) => {
      form.removeEventListener('submit', onSubmit);
      dialog.removeEventListener('close', onClose);
      pendingToken = null;
      resolve(token);
    };
    const onSubmit = (e) => {
      e.preventDefault();
      const token = input.value.trim();
      setToken(token);
      done(token || null);
      dialog.close();
    };
    const onClose = () => done(null);
    form.addEventListener('submit', onSubmit);
    dialog.addEventListener('close', onClose);
  });
  if (!dialog.open) dialog.showModal();
  input.focus();
  return pendingToken;
}

const cluster = new ClusterPanel($('nodes'), $('served-by'), $('cluster-warnings'));
const users = new UsersView({ toast });

// The tables the cluster serves (GET /_schema) and the one shown. users is
// served by its own view (users.js); every other table by a TableView built
// from its schema, kept per table so switching back keeps its page.
const SCHEMA_EVERY = 5; // refreshes of the list between two reads of /_schema
const MISSES_TO_DROP = 3; // reads of /_schema a table must miss before its tab goes
const views = new Map(); // table -> TableView
let tables = []; // [{table, plugin, version, sha, schema, misses}]
let active = null; // the table shown
let activeView = null; // users or a TableView

const isUsers = (entry) => entry.table === 'users' && (entry.plugin === 'users' || entry.plugin === '');

function viewFor(entry) {
  if (isUsers(entry)) {
    users.setEntry(entry.fallback ? null : entry);
    return users;
  }
  let view = views.get(entry.table);
  if (!view) {
    view = new TableView(entry, { toast });
    views.set(entry.table, view);
  } else if (view.entry.sha !== entry.sha || view.entry.version !== entry.version) {
    view.setEntry(entry);
  }
  return view;
}

// The tabs, rebuilt only when the list of tables changes, so a click or a
// refresh keeps the focus on its tab.
let tabsKey = '';
function renderTabs() {
  const list = $('table-tabs');
  $('table-picker').hidden = tables.length < 2 && (tables.length === 0 || isUsers(tables[0]));
  const key = JSON.stringify(tables.map((t) => [t.table, t.plugin, t.version]));
  if (key !== tabsKey) {
    tabsKey = key;
    const hadFocus = list.contains(document.activeElement);
    list.replaceChildren(...tables.map((entry) => {
      const tab = h('button', {
        type: 'button', role: 'tab', class: 'tab', 'aria-controls': isUsers(entry) ? 'users-card' : 'table-card',
      }, humanize(entry.table));
      tab.dataset.table = entry.table;
      tab.title = `/${entry.table} · plugin ${entry.plugin || '?'}, version ${entry.version}`;
      tab.addEventListener('click', () => select(entry.table));
      return tab;
    }));
    if (hadFocus) setTimeout(() => { const t = list.querySelector('[aria-selected="true"]'); if (t) t.focus(); });
  }
  for (const tab of list.children) {
    const selected = tab.dataset.table === active;
    tab.setAttribute('aria-selected', selected ? 'true' : 'false');
    tab.tabIndex = selected ? 0 : -1;
  }
}

// Arrow keys, Home and End move between the tabs (and show the table).
$('table-tabs').addEventListener('keydown', (e) => {
  const tabs = [...$('table-tabs').querySelectorAll('[role="tab"]')];
  const at = tabs.indexOf(document.activeElement);
  if (at < 0) return;
  let to = null;
  if (e.key === 'ArrowRight' || e.key === 'ArrowDown') to = (at + 1) % tabs.length;
  else if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') to = (at - 1 + tabs.length) % tabs.length;
  else if (e.key === 'Home') to = 0;
  else if (e.key === 'End') to = tabs.length - 1;
  if (to === null) return;
  e.preventDefault();
  select(tabs[to].dataset.table);
  tabs[to].focus();
});

function select(table) {
  const entry = tables.find((t) => t.table === table);
  if (!entry) return;
  const view = viewFor(entry);
  const changed = active !== table || activeView !== view;
  if (activeView && activeView !== view && activeView !== users) activeView.unmount();
  active = table;
  activeView = view;
  const container = $('table-view');
  if (view === users) {
    container.replaceChildren();
    $('users-card').hidden = false;
    document.title = 'Users · ClusterLite';
    $('skip-link').href = '#users-title';
    $('skip-link').textContent = 'Skip to users';
  } else {
    $('users-card').hidden = true;
    if (!view.el.isConnected) view.mount(container);
    document.title = `${view.info.heading} · ClusterLite`;
    $('skip-link').href = '#table-title';
    $('skip-link').textContent = `Skip to ${table}`;
  }
  renderTabs();
  // The table shown is in the address, so a reload or a link comes back to it.
  const hash = view === users && tables[0] && tables[0].table === table ? '' : `#/${encodeURIComponent(table)}`;
  if (location.hash !== hash) history.replaceState(null, '', `${location.pathname}${location.search}${hash}`);
  if (changed) view.load();
}

// The table named in the address (#/products), if any.
function tableInHash() {
  if (!location.hash.startsWith('#/')) return null;
  try { return decodeURIComponent(location.hash.slice(2)); } catch { return null; }
}

// Reads /_schema. A table missing from a few answers in a row loses its tab
// (during a rollout nodes disagree, and nginx asks one or the other); a
// newer version of a schema replaces the older one.
async function refreshTables() {
  let fresh;
  try {
    fresh = await fetchTables();
  } catch (err) {
    if (tables.length) return; // keep what we have; the next read may succeed
    // A node without /_schema (404), or none reachable: users as before.
    if (!(err instanceof ApiError && (err.status === 404 || err.status === 401))) {
      $('schema-note').textContent = `The list of tables could not be read (${err instanceof ApiError ? err.message : 'the server could not be reached'}); showing users only.`;
      $('schema-note').hidden = false;
    }
    tables = [{ table: 'users', plugin: 'users', version: 0, sha: '', schema: null, misses: 0, fallback: true }];
    return;
  }
  $('schema-note').hidden = true;
  const byName = new Map(fresh.map((t) => [t.table, t]));
  const next = [];
  for (const old of tables) {
    if (old.fallback) continue;
    const now = byName.get(old.table);
    if (now) {
      byName.delete(old.table);
      next.push(now.version >= old.version ? { ...now, misses: 0 } : { ...old, misses: 0 });
    } else if (old.misses + 1 < MISSES_TO_DROP) {
      next.push({ ...old, misses: old.misses + 1 });
    }
  }
  for (const t of byName.values()) next.push({ ...t, misses: 0 });
  // users first, as the page always showed it; the rest in the node's order.
  next.sort((a, b) => Number(isUsers(b)) - Number(isUsers(a)));
  tables = next;
  for (const [name, view] of views) {
    const entry = tables.find((t) => t.table === name);
    if (!entry) {
      if (view === activeView) { view.unmount(); activeView = null; active = null; }
      views.delete(name);
    } else if (view.entry.sha !== entry.sha || view.entry.version !== entry.version) {
      view.setEntry(entry);
    }
  }
}

// A table named by hand in the address, or by the browser's history.
window.addEventListener('hashchange', () => {
  const wanted = tableInHash();
  if (wanted && wanted !== active && tables.some((t) => t.table === wanted)) select(wanted);
});

async function start() {
  await refreshTables();
  const wanted = tableInHash();
  const first = tables.find((t) => t.table === wanted) || tables[0];
  if (first) select(first.table);
  else showNoTables();
}

function showNoTables() {
  $('users-card').hidden = true;
  $('table-view').replaceChildren(h('section', { class: 'card' },
    h('h1', {}, 'No tables'),
    h('p', { class: 'muted' }, 'No node answered with a table: no entity plugin is loaded.')));
  renderTabs();
}

let schemaTick = 0;
async function refreshList() {
  if (++schemaTick >= SCHEMA_EVERY) {
    schemaTick = 0;
    const before = tables.map((t) => `${t.table}@${t.version}:${t.sha}`).join(',');
    await refreshTables();
    const after = tables.map((t) => `${t.table}@${t.version}:${t.sha}`).join(',');
    if (before !== after) {
      if (active && tables.some((t) => t.table === active)) select(active);
      else if (tables.length) select(tables[0].table);
      else { active = null; activeView = null; showNoTables(); }
    }
  }
  if (activeView) await activeView.load({ quiet: true });
}

onServedBy((node) => cluster.setServedBy(node));
setAuthHandler((reason) => askToken(reason));

$('token-button').addEventListener('click', async () => {
  $('token-reason').textContent = 'Requests carry this token as “Authorization: Bearer …”. It is kept for this browser tab only.';
  if (await askToken()) {
    if (activeView) activeView.load();
    else start();
  }
});
$('token-clear').addEventListener('click', () => {
  setToken('');
  $('token-input').value = '';
  toast('Token forgotten.');
});

let clusterBusy = false;
async function refreshCluster() {
  if (clusterBusy) return;
  clusterBusy = true;
  try { await cluster.refresh(); } finally { clusterBusy = false; }
}

// The change stream: every change (or a reset) of the table on screen reloads
// its page, and the cluster panel, once per burst. EventSource sends no
// Authorization header, so with an API token the UI polls instead. The
// browser reconnects by itself (with Last-Event-ID); while it is down the
// 2-second refresh runs. document.body.dataset.live says which is in use.
const STREAM_RETRY_MS = 30000; // after a node refused the stream (401, 503, 501 in shared mode)
let stream = null;
let streamUp = false;
let streamRetryAt = 0;
let reloadSoon = null;
function setLive(up) {
  streamUp = up;
  document.body.dataset.live = up ? 'stream' : 'polling';
}
function changed(event) {
  let table = null;
  try { table = JSON.parse(event.data).table; } catch { /* reset: reload whatever is shown */ }
  if (table && table !== active) return;
  if (reloadSoon) return;
  reloadSoon = setTimeout(() => {
    reloadSoon = null;
    refreshList();
    refreshCluster();
  }, 50);
}
function openStream() {
  if (stream || getToken() || typeof EventSource === 'undefined' || Date.now() < streamRetryAt) return;
  stream = new EventSource(apiUrl('_changes'));
  stream.onopen = () => setLive(true);
  for (const kind of ['insert', 'update', 'delete', 'reset']) stream.addEventListener(kind, changed);
  stream.onerror = () => {
    setLive(false);
    if (stream && stream.readyState === EventSource.CLOSED) {  // refused: try again later
      stream = null;
      streamRetryAt = Date.now() + STREAM_RETRY_MS;
    }
  };
}

setLive(false);
start();
refreshCluster();
openStream();
let sinceCluster = 0;
setInterval(() => {
  if (document.hidden) return;
  if (!stream) openStream();
  sinceCluster += REFRESH_MS;
  if (streamUp) {
    if (sinceCluster >= CLUSTER_EVERY_MS) { sinceCluster = 0; refreshCluster(); }
    return;
  }
  sinceCluster = 0;
  refreshList();
  refreshCluster();
}, REFRESH_MS);
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) { refreshList(); refreshCluster(); }
});
