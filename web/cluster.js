// Cluster panel: one card per node with health, applied offsets and lag.
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
    status: status.status === 'fulfilled' ? status.value.body : null,
    error: status.status === 'rejected' ? status.reason.message : null,
  };
}

const fmt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : '—');

export class ClusterPanel {
  constructor(container, servedByEl) {
    this.container = container;
    this.servedByEl = servedByEl;
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
        partitions));
    this.container.append(el);
    card = { el, title, badge, meta, lagEl, appliedEl, rejectedEl, partitions, nodeId: null };
    this.cards.set(i, card);
    return card;
  }

  render(node, i, { healthy, status, error }) {
    const c = this.card(node, i);
    const nodeId = status ? status.node_id : null;
    c.nodeId = nodeId;
    c.title.textContent = node.name || nodeId || 'This node';
    const lag = status ? (status.partitions || []).reduce((s, p) => s + (p.lag || 0), 0) : null;
    let state = 'down', label = 'Unreachable';
    if (healthy && status) {
      if (status.log_reachable === false) { state = 'warn'; label = 'Log unreachable'; }
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
    c.el.classList.toggle('is-serving', nodeId !== null && nodeId === this.lastServedBy);
  }
}
