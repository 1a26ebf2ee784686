// The users list (newest first or another order, server-side search, cursor
// pagination, live refresh, saved rows shown at once) and its dialogs.
import { request, nextCursor, ApiError } from './api.js';
import { h, withBusy, coalescedLoad, flash } from './dom.js';
import { ListQuery, nextQuery, orderLabel } from './listing.js';

// Without server-side search (a node without /_schema) the search walks the table:
const SEARCH_PAGE = 1000;   // rows per request while walking (the API's maximum)
const SEARCH_MAX_PAGES = 10; // a walk looks at no more than 10,000 users
const SEARCH_SHOWN = 200;   // matches shown at most

const dateFmt = new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'short' });
function formatDate(s) {
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? (s || '') : dateFmt.format(d);
}

function initials(name) {
  const parts = String(name).trim().split(/\s+/).filter(Boolean);
  return ((parts[0] || '?')[0] + (parts.length > 1 ? parts[parts.length - 1][0] : '')).toUpperCase();
}

function describe(err) {
  if (err instanceof ApiError) return err.message;
  if (err && err.name === 'AbortError') return 'The server did not answer in time.';
  return 'The server could not be reached.';
}

export class UsersView {
  constructor({ toast }) {
    this.toast = toast;
    this.$ = (id) => document.getElementById(id);
    this.body = this.$('users-body');
    this.rowsById = new Map();
    this.list = new ListQuery();
    this.list.pageSize = Number(this.$('page-size').value);
    this.rows = []; // the server's rows of the page shown
    this.loadSeq = 0;
    this.loading = null;
    this.firstRender = true;
    this.editing = null; // the user being edited, or null when creating
    this.pendingDelete = null;
    this.wire();
    this.setEntry(null);
  }

  // The users entry of /_schema (its orders and search fields), or null
  // when the node has no /_schema: id order, and the search walks the table.
  setEntry(entry) {
    const before = `${this.list.orders}|${this.list.search}|${this.list.order}`;
    this.list.setFields(entry);
    if (before === `${this.list.orders}|${this.list.search}|${this.list.order}` && this.orderSelectBuilt) return;
    this.orderSelectBuilt = true;
    const select = this.$('order');
    select.replaceChildren(...this.list.orders.map((o) => h('option', { value: o }, orderLabel(o))));
    select.value = this.list.order;
    select.closest('label').hidden = this.list.orders.length < 2;
    this.$('search-note').textContent = this.list.searchable
      ? 'Finds users whose name or email starts with what you type, across the whole table.'
      : `Finds users whose name or email contains what you type, among the first ${(SEARCH_PAGE * SEARCH_MAX_PAGES).toLocaleString('en-US')}.`;
  }

  wire() {
    let debounce;
    this.$('search').addEventListener('input', (e) => {
      clearTimeout(debounce);
      debounce = setTimeout(() => {
        const q = e.target.value.trim();
        if (q === this.list.q) return;
        this.list.setSearch(q);
        this.load();
      }, 250);
    });
    this.$('order').addEventListener('change', (e) => {
      this.list.setOrder(e.target.value);
      this.load();
    });
    this.$('page-size').addEventListener('change', (e) => {
      this.list.setPageSize(Number(e.target.value));
      this.load();
    });
    this.$('prev-page').addEventListener('click', () => { if (this.list.prevPage()) this.load(); });
    this.$('next-page').addEventListener('click', () => { if (this.list.nextPage()) this.load(); });
    this.$('new-user').addEventListener('click', () => this.openForm(null));
    this.$('user-form').addEventListener('submit', (e) => { e.preventDefault(); this.save(); });
    this.$('confirm-form').addEventListener('submit', (e) => { e.preventDefault(); this.confirmDelete(); });
    for (const input of [this.$('user-name'), this.$('user-email')]) {
      input.addEventListener('input', () => this.setFieldError(input.name, ''));
    }
    for (const btn of document.querySelectorAll('dialog [data-close]')) {
      btn.addEventListener('click', () => btn.closest('dialog').close());
    }
  }

  // Reloads the current page (or search). Overlapping calls share one load;
  // a call made while a load runs schedules one more afterwards. `strong`
  // asks the serving node to catch up with the log first, so a write this
  // page just made shows even when another node answers the read.
  load(options) {
    return coalescedLoad(this, options, async (seq, strong) => {
      try {
        if (this.list.q && !this.list.searchable) await this.loadWalk(seq, strong);
        else await this.loadPage(seq, strong);
        this.$('list-error').hidden = true;
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 401)) {
          this.$('list-error').textContent = `Could not load users: ${describe(err)}`;
          this.$('list-error').hidden = false;
        }
      }
    });
  }

  // A page of GET /users in the order chosen, searched with ?q= when the
  // box holds text.
  async loadPage(seq, strong = false) {
    const list = this.list;
    let res;
    try {
      res = await request('GET', `users?${list.params(strong)}`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 400 && list.order !== 'id' && err.field !== 'q') {
        list.refuseOrders(); // a node that cannot order users: id order
        this.setEntry({ orders: ['id'], search: list.search });
        return this.loadPage(seq, strong);
      }
      throw err;
    }
    if (seq !== this.loadSeq) return;
    const rows = Array.isArray(res.body) ? res.body : [];
    if (rows.length === 0 && list.page > 0) {
      // The page emptied (deletions elsewhere): step back.
      list.prevPage();
      return this.loadPage(seq, strong);
    }
    list.next = nextQuery(res.headers);
    this.rows = rows;
    // Rows are highlighted when they appear on a refresh, not when the view changed.
    const shown = `${list.order}|${list.q}|${list.pageSize}|${list.page}|${list.pages[list.page] || ''}`;
    if (shown !== this.shownView) this.firstRender = true;
    this.shownView = shown;
    this.show();
    this.$('page-label').textContent = `Page ${list.page + 1}`;
    this.$('prev-page').disabled = list.page === 0;
    this.$('next-page').disabled = !list.next;
  }

  // The rows of the page with what this page saved, and the summary.
  show() {
    const list = this.list;
    const rows = this.rows;
    this.render(list.arrange(rows));
    const first = list.page * list.pageSize + 1;
    const range = `${first.toLocaleString('en-US')}–${(first + rows.length - 1).toLocaleString('en-US')}`;
    if (list.q) {
      this.$('users-summary').textContent = list.page === 0 && !list.next
        ? `${rows.length.toLocaleString('en-US')} ${rows.length === 1 ? 'match' : 'matches'}`
        : `Showing matches ${range}`;
      this.$('users-empty').textContent = 'No user matches this search.';
    } else {
      this.$('users-summary').textContent = rows.length ? `Showing ${range}` : 'No users';
      this.$('users-empty').textContent = 'No users yet. Create the first one with “New user”.';
    }
  }

  // Without server-side search (a node without /_schema): walks the table
  // with the cursor and keeps the users whose name or email contains the text.
  async loadWalk(seq, strong = false) {
    const query = this.list.q.toLowerCase();
    const matches = [];
    let after = null, scanned = 0, complete = false;
    for (let i = 0; i < SEARCH_MAX_PAGES; i++) {
      const q = new URLSearchParams({ limit: String(SEARCH_PAGE) });
      if (after) q.set('after', after);
      if (strong) q.set('consistency', 'strong');
      const res = await request('GET', `users?${q}`);
      if (seq !== this.loadSeq) return;
      const rows = Array.isArray(res.body) ? res.body : [];
      scanned += rows.length;
      for (const u of rows) {
        if (String(u.name).toLowerCase().includes(query) || String(u.email).toLowerCase().includes(query)) {
          matches.push(u);
        }
      }
      after = nextCursor(res.headers);
      if (!after) { complete = true; break; }
    }
    this.render(matches.slice(0, SEARCH_SHOWN).map((row) => ({ row, outside: false })));
    let summary = `${matches.length.toLocaleString('en-US')} ${matches.length === 1 ? 'match' : 'matches'}`;
    if (matches.length > SEARCH_SHOWN) summary += `, first ${SEARCH_SHOWN} shown`;
    if (!complete) summary += ` in the first ${scanned.toLocaleString('en-US')} users`;
    this.$('users-summary').textContent = summary;
    this.$('page-label').textContent = 'Search results';
    this.$('prev-page').disabled = true;
    this.$('next-page').disabled = true;
    this.$('users-empty').textContent = 'No user matches this search.';
  }

  // Updates the table in place, keyed by id, so focus and scroll survive a
  // refresh. `items` are {row, outside} (ListQuery.arrange): a saved row
  // that sorts elsewhere is shown first, with a note saying so.
  render(items) {
    const seen = new Set();
    items.forEach(({ row: u, outside }, i) => {
      seen.add(u.id);
      let row = this.rowsById.get(u.id);
      if (!row) {
        row = this.makeRow(u);
        this.rowsById.set(u.id, row);
        if (!this.firstRender) flash(row.tr, 'flash', 1600);
      }
      this.updateRow(row, u);
      this.setOutside(row, outside);
      if (this.body.children[i] !== row.tr) this.body.insertBefore(row.tr, this.body.children[i] || null);
    });
    for (const [id, row] of this.rowsById) {
      if (seen.has(id)) continue;
      const hadFocus = row.tr.contains(document.activeElement);
      row.tr.remove();
      this.rowsById.delete(id);
      if (hadFocus) this.$('users-title').focus();
    }
    this.$('users-empty').hidden = items.length > 0;
    this.firstRender = false;
  }

  setOutside(row, outside) {
    if (!outside) {
      delete row.tr.dataset.outside;
      if (row.note) row.note.remove();
      return;
    }
    const why = this.list.matches(row.user) ? 'Saved · sorts on another page' : 'Saved · not in this search';
    row.tr.dataset.outside = 'true';
    if (!row.note) row.note = h('span', { class: 'saved-note' });
    row.note.textContent = why;
    if (!row.note.isConnected) row.name.after(row.note);
  }

  // Shows a user saved through the form at once, where it sorts (or first,
  // marked, when it sorts elsewhere), highlighted.
  showSaved(user) {
    if (!user || typeof user !== 'object' || !user.id) return;
    this.list.pin(user);
    this.rows = this.rows.filter((r) => r.id !== user.id);
    if (this.list.q && !this.list.searchable) {
      // The walked search: no order to place it by; first.
      this.render([{ row: user, outside: false }, ...[...this.rowsById.values()]
        .map((r) => r.user).filter((u) => u.id !== user.id).map((row) => ({ row, outside: false }))]);
    } else {
      this.show();
    }
    const row = this.rowsById.get(user.id);
    if (row) {
      flash(row.tr, 'saved', 4000);
      row.tr.scrollIntoView({ block: 'nearest' });
    }
  }

  makeRow(u) {
    const row = {
      user: u,
      avatar: h('span', { class: 'avatar', 'aria-hidden': 'true' }),
      name: h('span', { class: 'user-name' }),
      email: h('td', { class: 'col-email', 'data-label': 'Email' }),
      updated: h('td', { class: 'col-date', 'data-label': 'Updated' }),
      edit: h('button', { type: 'button', class: 'btn btn-ghost btn-small', 'data-action': 'edit' }, 'Edit'),
      del: h('button', { type: 'button', class: 'btn btn-ghost btn-small btn-danger-text', 'data-action': 'delete' }, 'Delete'),
    };
    row.edit.addEventListener('click', () => this.openForm(row.user, row.edit));
    row.del.addEventListener('click', () => this.askDelete(row.user, row.del));
    row.tr = h('tr', { 'data-id': u.id },
      h('td', { class: 'col-name' }, h('span', { class: 'name-cell' }, row.avatar, row.name)),
      row.email,
      row.updated,
      h('td', { class: 'col-actions' }, h('span', { class: 'row-actions' }, row.edit, row.del)));
    return row;
  }

  updateRow(row, u) {
    row.user = u;
    const set = (el, text) => { if (el.textContent !== text) el.textContent = text; };
    set(row.name, u.name);
    set(row.avatar, initials(u.name));
    set(row.email, u.email);
    set(row.updated, formatDate(u.updated_at || u.created_at));
    row.updated.title = `Created ${formatDate(u.created_at)}`;
    row.tr.dataset.email = u.email;
    row.edit.setAttribute('aria-label', `Edit ${u.name}`);
    row.del.setAttribute('aria-label', `Delete ${u.name}`);
  }

  setFieldError(field, message) {
    const input = this.$(`user-${field}`);
    const out = this.$(`user-${field}-error`);
    if (!input || !out) return false;
    out.textContent = message;
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
    return true;
  }

  clearErrors() {
    this.setFieldError('name', '');
    this.setFieldError('email', '');
    this.$('form-error').hidden = true;
  }

  openForm(user, opener = this.$('new-user')) {
    this.editing = user;
    this.opener = opener;
    this.clearErrors();
    this.$('user-dialog-title').textContent = user ? 'Edit user' : 'New user';
    this.$('user-save').querySelector('.label').textContent = user ? 'Save changes' : 'Create user';
    this.$('user-name').value = user ? user.name : '';
    this.$('user-email').value = user ? user.email : '';
    const dialog = this.$('user-dialog');
    dialog.showModal();
    this.$('user-name').focus();
    dialog.addEventListener('close', () => this.restoreFocus(), { once: true });
  }

  restoreFocus() {
    const el = this.opener && this.opener.isConnected ? this.opener : this.$('users-title');
    el.focus();
  }

  async save() {
    const button = this.$('user-save');
    await withBusy(button, this.editing ? 'Saving…' : 'Creating…', async () => {
      this.clearErrors();
      const body = { name: this.$('user-name').value.trim(), email: this.$('user-email').value.trim() };
      const editing = this.editing;
      try {
        const res = editing
          ? await request('PUT', `users/${encodeURIComponent(editing.id)}`, { body })
          : await request('POST', 'users', { body });
        this.$('user-dialog').close();
        if (res.status === 202) this.toast('Accepted — it will appear once the cluster applies it.');
        else {
          this.toast(editing ? `Saved ${body.name}.` : `Created ${body.name}.`);
          this.showSaved(res.body);
        }
        await this.load({ strong: true });
      } catch (err) {
        if (err instanceof ApiError && err.field && this.setFieldError(err.field, err.message)) {
          this.$(`user-${err.field}`).focus();
        } else {
          this.$('form-error').textContent = describe(err);
          this.$('form-error').hidden = false;
        }
      }
    });
  }

  askDelete(user, opener) {
    this.pendingDelete = user;
    this.opener = opener;
    this.$('confirm-text').textContent = `${user.name} <${user.email}> will be deleted on every node. This cannot be undone.`;
    this.$('confirm-error').hidden = true;
    const dialog = this.$('confirm-dialog');
    dialog.showModal();
    dialog.querySelector('[data-close]').focus();
    dialog.addEventListener('close', () => this.restoreFocus(), { once: true });
  }

  async confirmDelete() {
    const user = this.pendingDelete;
    if (!user) return;
    await withBusy(this.$('confirm-delete'), 'Deleting…', async () => {
      try {
        await request('DELETE', `users/${encodeURIComponent(user.id)}`);
        this.toast(`Deleted ${user.name}.`);
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) {
          this.$('confirm-error').textContent = describe(err);
          this.$('confirm-error').hidden = false;
          return;
        }
        this.toast(`${user.name} was already deleted.`);
      }
      this.pendingDelete = null;
      this.list.unpin(user.id);
      this.$('confirm-dialog').close();
      await this.load({ strong: true });
    });
  }
}
