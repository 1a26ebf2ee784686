// What a list view asks GET /{table} and how it places what a person just
// saved: the order (the table's orders from /_schema, newest first when it
// can), the server-side search (?q=, for tables with search fields), the
// pages (each the query of the previous answer's Link: rel="next", so every
// order pages by its own cursor) and the rows saved through this page's
// forms, shown at once where they sort or, when they sort on another page or
// outside the search, above the list until the view changes.
import { root } from './api.js';

// How an order is offered in the select. `label(field)` names a field.
export function orderLabel(order, label = (f) => f) {
  const desc = order.startsWith('-');
  const field = desc ? order.slice(1) : order;
  if (field === 'id') return desc ? 'Newest first' : 'Oldest first';
  if (field === 'created_at') return desc ? 'Created, newest first' : 'Created, oldest first';
  if (field === 'updated_at') return desc ? 'Updated, newest first' : 'Updated, oldest first';
  return `${label(field)}, ${desc ? 'descending' : 'ascending'}`;
}

// The query of the Link: <…>; rel="next" header (URLSearchParams, without
// `consistency`), or null on the last page.
export function nextQuery(headers) {
  const link = headers.get('Link');
  if (!link) return null;
  for (const part of link.split(',')) {
    const m = part.match(/<([^>]*)>\s*;\s*rel="?next"?/);
    if (m) {
      const params = new URL(m[1], root).searchParams;
      params.delete('consistency');
      return params.toString();
    }
  }
  return null;
}

const strings = (v) => (Array.isArray(v) ? v.filter((s) => typeof s === 'string' && s !== '') : []);

function compareValues(a, b) {
  if (a === b) return 0;
  if (a === undefined || a === null) return -1;
  if (b === undefined || b === null) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : 1;
  const x = String(a), y = String(b);
  if (x === y) return 0;
  return x < y ? -1 : 1;
}

export class ListQuery {
  constructor() {
    this.orders = ['id']; // what the table takes; only id until /_schema says more
    this.search = [];     // the table's search fields; [] means no ?q=
    this.order = 'id';
    this.chosen = false;  // the person picked an order: keep it across schema reads
    this.q = '';
    this.pageSize = 25;
    this.resetPages();
  }

  // The table's entry of /_schema ({orders, search}); null for a node
  // without /_schema (id order only, no search).
  setFields(entry) {
    const orders = entry ? strings(entry.orders) : [];
    this.orders = orders.includes('id') ? orders : ['id', ...orders];
    this.search = entry ? strings(entry.search) : [];
    if (!this.orders.includes(this.order) || !this.chosen) {
      const order = this.orders.includes('-id') ? '-id' : 'id';
      if (order !== this.order) {
        this.order = order;
        this.resetPages();
      }
    }
  }

  // The node refused an order other than id (a plugin that cannot be
  // queried): id order from now on.
  refuseOrders() {
    this.orders = ['id'];
    this.order = 'id';
    this.chosen = false;
    this.resetPages();
  }

  get searchable() { return this.search.length > 0; }

  setOrder(order) {
    if (!this.orders.includes(order)) return;
    this.order = order;
    this.chosen = true;
    this.resetPages();
  }

  setSearch(q) {
    this.q = q;
    this.resetPages();
  }

  setPageSize(n) {
    this.pageSize = n;
    this.resetPages();
  }

  resetPages() {
    this.pages = [null]; // pages[i]: the query of page i from the Link; null for the first
    this.page = 0;
    this.next = null;
    this.pinned = new Map(); // id -> row saved through this page, until the view changes
  }

  nextPage() {
    if (!this.next) return false;
    this.pages.push(this.next);
    this.page++;
    this.pinned = new Map();
    return true;
  }

  prevPage() {
    if (this.page === 0) return false;
    this.pages.pop();
    this.page--;
    this.pinned = new Map();
    return true;
  }

  // The query of the page shown ("limit=25&order=-id"); `strong` adds
  // consistency=strong.
  params(strong = false) {
    const p = new URLSearchParams(this.pages[this.page] || '');
    if (!this.pages[this.page]) {
      p.set('limit', String(this.pageSize));
      if (this.order !== 'id') p.set('order', this.order);
      if (this.q && this.searchable) p.set('q', this.q);
    }
    if (strong) p.set('consistency', 'strong');
    return p;
  }

  // a before b in the order shown: negative; after: positive.
  compare(a, b) {
    const desc = this.order.startsWith('-');
    const field = desc ? this.order.slice(1) : this.order;
    let c = field === 'id' ? 0 : compareValues(a[field], b[field]);
    if (c === 0) c = compareValues(a.id, b.id);
    return desc ? -c : c;
  }

  // Whether `row` is one the search shown would find (prefix of a search
  // field, ignoring case, as the server compares).
  matches(row) {
    if (!this.q || !this.searchable) return true;
    const q = this.q.toLowerCase();
    return this.search.some((f) => typeof row[f] === 'string' && row[f].toLowerCase().startsWith(q));
  }

  // Whether `row` sorts within the page shown (`rows`, the server's page).
  fits(row, rows) {
    if (!this.matches(row)) return false;
    if (rows.length === 0) return this.page === 0;
    if (this.page > 0 && this.compare(row, rows[0]) < 0) return false;
    if (this.next && this.compare(row, rows[rows.length - 1]) > 0) return false;
    return true;
  }

  // Remembers a row saved through a form of this page.
  pin(row) { this.pinned.set(row.id, row); }
  unpin(id) { this.pinned.delete(id); }

  // The rows to show: the server's page with the saved rows where they sort,
  // and {row, outside: true} entries first for saved rows that sort
  // elsewhere. Returns [{row, outside}].
  arrange(serverRows) {
    const rows = serverRows.filter((r) => !(this.pinned.has(r.id)));
    const outside = [];
    for (const [id, saved] of this.pinned) {
      const fromServer = serverRows.find((r) => r.id === id);
      const row = fromServer || saved;
      if (fromServer) this.pinned.set(id, fromServer);
      if (fromServer || this.fits(row, rows)) {
        let at = rows.findIndex((r) => this.compare(row, r) < 0);
        if (at < 0) at = rows.length;
        rows.splice(at, 0, row);
      } else {
        outside.push(row);
      }
    }
    return [...outside.map((row) => ({ row, outside: true })), ...rows.map((row) => ({ row, outside: false }))];
  }
}
