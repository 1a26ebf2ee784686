// Cluster panel: one card per node with health, applied offsets, lag, the
// plugins it runs and the tables it holds events of, and above the cards a
// warning wherever the nodes disagree about a table's plugin.
import { request } from './api.js';
import { h } from './dom.js';

// [{name, prefix}] from cluster.json beside the page; without that file the
// page shows only the node that serves it.
async function loadNodes() {
  try {
    const res = await fetch(new URL('cluster.json', document.baseURI), { cache: 'no-store' });
    if (res.ok) {
      const list = await res.json();
      if (Array.isArray(list) && list.length) {
        return list.map((n, i) => ({ name: String(n.name || `node-${i + 1}`), prefix: String(n.prefix || '') }));
      }
    }
  } catch { /* fall through to the lone node */ }
  return [{ name: '', prefix: '' }];
}

async function probe(node) {
  const [health, status] = await Promise.allSettled([
    request('GET', 'healthz', { prefix: node.prefix, timeout: 1500, auth: false, track: false }),
    request('GET', '_cluster/status', { prefix: node.prefix, timeout: 1500, track: false }),
  ]);
  return {
    healthy: health.status === 'fulfilled' && health.value.body && health.value.body.status === 'ok',
    status: status.status === 'fulfilled' && status.value.body && typeof status.value.body === 'object'
      ? status.value.body : null,
    error: status.status === 'rejected' ? status.reason.message : null,
  };
}

const fmt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : '—');
const str = (v) => (v === null || v === undefined ? '' : String(v));
const int = (v) => (Number.isInteger(v) ? v : 0);
// The first 12 hex digits of a sha256, enough to tell builds apart at a glance.
const shortSha = (sha) => str(sha).slice(0, 12);
// Version 0 is a plugin built before plugins had versions (ABI 1).
const versionText = (v) => (v === 0 ? '0 (unversioned)' : String(v));
const plural = (n, one, many) => `${fmt(n)} ${n === 1 ? one : many}`;

// The plugins array of a status document, each entry with plain string and
// number fields; null when the node does not report plugins (an older node).
function pluginsOf(status) {
  if (!status || !Array.isArray(status.plugins)) return null;
  return status.plugins.filter((p) => p && typeof p === 'object').map((p) => ({
    name: str(p.name), table: str(p.table), version: int(p.version), abi: int(p.abi), sha256: str(p.sha256),
  }));
}

function pendingOf(status) {
  if (!status || !Array.isArray(status.pending_tables)) return [];
  return status.pending_tables.filter((t) => t && typeof t === 'object').map((t) => ({
    table: str(t.table), held: int(t.held_events), needs: int(t.needs_plugin_version), reason: str(t.reason),
  }));
}

// "a", "a and b", "a, b and c".
function joinNames(names) {
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

const ROLLOUT = 'a rollout is in progress or incomplete';

// The disagreements between nodes, as [{kind, table, nodes, text}]:
//   missing  a table some nodes serve and others have no plugin for;
//   version  a table whose plugin runs at different versions;
//   build    a table whose plugin has one version but different files (sha256);
//   pending  a table a node holds events of (it answers 503 for it).
// `reports` is [{name, status}] for the nodes that answered; a node that does
// not report its plugins is left out of the comparisons.
export function pluginWarnings(reports) {
  const warnings = [];
  const withPlugins = reports.map((r) => ({ name: r.name, plugins: pluginsOf(r.status) })).filter((r) => r.plugins);
  const tables = new Map();  // table -> [{node, plugin}]
  for (const r of withPlugins) {
    for (const p of r.plugins) {
      if (!tables.has(p.table)) tables.set(p.table, []);
      tables.get(p.table).push({ node: r.name, plugin: p });
    }
  }
  for (const table of [...tables.keys()].sort()) {
    const serving = tables.get(table);
    const servingNodes = new Set(serving.map((s) => s.node));
    const without = withPlugins.map((r) => r.name).filter((n) => !servingNodes.has(n));
    if (without.length) {
      const have = [...servingNodes];
      warnings.push({
        kind: 'missing', table, nodes: without,
        text: `${table}: ${joinNames(have)} ${have.length === 1 ? 'serves' : 'serve'} it, ` +
          `${joinNames(without)} ${without.length === 1 ? 'has' : 'have'} no plugin for it — ${ROLLOUT}`,
      });
    }
    // Grouped by version, newest first.
    const byVersion = new Map();
    for (const s of serving) {
      if (!byVersion.has(s.plugin.version)) byVersion.set(s.plugin.version, []);
      byVersion.get(s.plugin.version).push(s);
    }
    const versions = [...byVersion.keys()].sort((a, b) => b - a);
    if (versions.length > 1) {
      const parts = versions.map((v, i) => {
        const nodes = byVersion.get(v).map((s) => s.node);
        const verb = i === 0 ? (nodes.length === 1 ? ' runs' : ' run') : '';
        return `${joinNames(nodes)}${verb} version ${versionText(v)}`;
      });
      warnings.push({
        kind: 'version', table, nodes: serving.map((s) => s.node),
        text: `${table}: ${parts.join(', ')} — ${ROLLOUT}`,
      });
    }
    for (const v of versions) {
      const bySha = new Map();
      for (const s of byVersion.get(v)) {
        if (!bySha.has(s.plugin.sha256)) bySha.set(s.plugin.sha256, []);
        bySha.get(s.plugin.sha256).push(s.node);
      }
      if (bySha.size < 2) continue;
      const parts = [...bySha.entries()].map(([sha, nodes], i) =>
        `${joinNames(nodes)}${i === 0 ? (nodes.length === 1 ? ' has' : ' have') : ''} sha256 ${shortSha(sha) || '(none)'}`);
      warnings.push({
        kind: 'build', table, nodes: byVersion.get(v).map((s) => s.node),
        text: `${table}: version ${versionText(v)} is not the same build on every node — ${parts.join(', ')}; ` +
          'a plugin that changed must raise its version',
      });
    }
  }
  for (const r of reports) {
    for (const t of pendingOf(r.status)) {
      const verb = t.held === 1 ? 'waits' : 'wait';
      const wait = t.needs > 0 ? `${verb} for plugin version ${t.needs} or later` : `${verb} for its plugin`;
      warnings.push({
        kind: 'pending', table: t.table, nodes: [r.name],
        text: `${t.table}: pending on ${r.name} — ${plural(t.held, 'held event', 'held events')} ${wait}; ` +
          `reads of ${t.table} there answer 503 until then`,
      });
    }
  }
  return warnings;
}

export class ClusterPanel {
  constructor(container, servedByEl, warningsEl) {
    this.container = container;
    this.servedByEl = servedByEl;
    this.warningsEl = warningsEl;
    this.warningsKey = null;
    this.nodes = null;
    this.cards = new Map();
    this.lastServedBy = null;
  }

  setServedBy(nodeId) {
    this.lastServedBy = nodeId;
    this.servedByEl.textContent = nodeId;
    this.servedByEl.closest('.served-by').hidden = false;
    for (const card of this.cards.values()) {
      card.el.classList.toggle('is-serving', card.nodeId === nodeId);
    }
  }

  async refresh() {
    if (!this.nodes) this.nodes = await loadNodes();
    const results = await Promise.all(this.nodes.map(probe));
    this.nodes.forEach((node, i) => this.render(node, i, results[i]));
    const reports = [];
    this.nodes.forEach((node, i) => {
      if (results[i].status) reports.push({ name: this.cards.get(i).title.textContent, status: results[i].status });
    });
    this.renderWarnings(pluginWarnings(reports));
  }

  // Rebuilt only when the warnings change, so the live region does not
  // announce the same text every refresh.
  renderWarnings(warnings) {
    if (!this.warningsEl) return;
    const key = JSON.stringify(warnings.map((w) => [w.kind, w.text]));
    if (key === this.warningsKey) return;
    this.warningsKey = key;
    this.warningsEl.replaceChildren(...warnings.map((w) => h('li', {
      class: 'alert alert-warn', 'data-kind': w.kind, 'data-table': w.table,
    }, w.text)));
    this.warningsEl.hidden = warnings.length === 0;
  }

  card(node, i) {
    let card = this.cards.get(i);
    if (card) return card;
    const title = h('h3', { class: 'node-name' });
    const badge = h('span', { class: 'badge' });
    const meta = h('p', { class: 'node-meta' });
    const lagEl = h('dd');
    const appliedEl = h('dd');
    const rejectedEl = h('dd');
    const partitions = h('tbody');
    const plugins = h('tbody');
    const pluginsNote = h('p', { class: 'node-note' });
    const pending = h('ul', { class: 'node-pending' });
    const el = h('li', { class: 'node', 'data-node': node.name || 'local' },
      h('div', { class: 'node-head' }, title, badge),
      meta,
      h('dl', { class: 'node-stats' },
        h('div', {}, h('dt', {}, 'Lag'), lagEl),
        h('div', {}, h('dt', {}, 'Applied'), appliedEl),
        h('div', {}, h('dt', {}, 'Rejected'), rejectedEl)),
      h('table', { class: 'partitions' },
        h('caption', { class: 'sr-only' }, 'Partitions'),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, 'Partition'),
          h('th', { scope: 'col' }, 'Applied offset'),
          h('th', { scope: 'col' }, 'Log end'),
          h('th', { scope: 'col' }, 'Lag'))),
        partitions),
      h('table', { class: 'plugins' },
        h('caption', {}, 'Plugins'),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, 'Table'),
          h('th', { scope: 'col' }, 'Plugin'),
          h('th', { scope: 'col' }, 'Version'),
          h('th', { scope: 'col' }, 'SHA-256'))),
        plugins),
      pluginsNote,
      pending);
    this.container.append(el);
    card = {
      el, title, badge, meta, lagEl, appliedEl, rejectedEl, partitions, plugins, pluginsNote, pending, nodeId: null,
    };
    this.cards.set(i, card);
    return card;
  }

  render(node, i, { healthy, status, error }) {
    const c = this.card(node, i);
    const nodeId = status ? status.node_id : null;
    c.nodeId = nodeId;
    c.title.textContent = node.name || nodeId || 'This node';
    const lag = status ? (status.partitions || []).reduce((s, p) => s + (p.lag || 0), 0) : null;
    const pending = pendingOf(status);
    let state = 'down', label = 'Unreachable';
    if (healthy && status) {
      if (status.log_reachable === false) { state = 'warn'; label = 'Log unreachable'; }
      else if (pending.length) { state = 'warn'; label = pending.length === 1 ? 'Table pending' : 'Tables pending'; }
      else if (lag > 0) { state = 'warn'; label = 'Catching up'; }
      else { state = 'ok'; label = 'Healthy'; }
    } else if (healthy) {
      state = 'warn'; label = 'Healthy, no status';
    }
    c.el.dataset.state = state;
    c.badge.className = `badge badge-${state}`;
    c.badge.textContent = label;
    c.meta.textContent = status
      ? [status.node_id, status.mode, status.topic].filter(Boolean).join(' · ')
      : (error || 'No answer');
    c.lagEl.textContent = status ? fmt(lag) : '—';
    c.appliedEl.textContent = status ? fmt(status.events_applied) : '—';
    c.rejectedEl.textContent = status ? fmt(status.events_rejected) : '—';
    const rows = status ? (status.partitions || []) : [];
    c.partitions.replaceChildren(...rows.map((p) => h('tr', { class: p.lag > 0 ? 'lagging' : '' },
      h('td', {}, String(p.partition)),
      h('td', {}, fmt(p.applied_offset)),
      h('td', {}, fmt(p.log_end)),
      h('td', {}, fmt(p.lag)))));

    const plugins = pluginsOf(status) || [];
    plugins.sort((a, b) => (a.table < b.table ? -1 : a.table > b.table ? 1 : 0));
    c.plugins.replaceChildren(...plugins.map((p) => h('tr', { 'data-table': p.table },
      h('td', { class: 'plugin-table' }, p.table),
      h('td', { class: 'plugin-name' }, p.name),
      h('td', { class: 'plugin-version', title: `plugin ABI ${p.abi}` }, versionText(p.version)),
      h('td', { class: 'plugin-sha', title: p.sha256 ? `sha256 ${p.sha256}` : null }, shortSha(p.sha256) || '—'))));
    c.plugins.closest('table').hidden = plugins.length === 0;
    c.pluginsNote.textContent = !status ? ''
      : !Array.isArray(status.plugins) ? 'Plugins: not reported by this node'
        : plugins.length === 0 ? 'Plugins: none loaded' : '';
    c.pluginsNote.hidden = c.pluginsNote.textContent === '';
    c.pending.replaceChildren(...pending.map((t) => h('li', { class: 'alert alert-warn', 'data-table': t.table },
      h('strong', {}, t.table),
      ` pending: ${plural(t.held, 'held event', 'held events')}`,
      t.needs > 0 ? `, needs plugin version ${t.needs}` : '',
      t.reason ? h('span', { class: 'pending-reason' }, t.reason) : null)));
    c.pending.hidden = pending.length === 0;
    c.el.classList.toggle('is-serving', nodeId !== null && nodeId === this.lastServedBy);
  }
}
