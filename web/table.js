// The view of any table other than users, built from the table's entity
// schema (schema.js): the list, newest first or in another order the table
// takes, with cursor pagination; a server-side search for tables with search
// fields, else a filter over the loaded page; and the create/edit/delete
// dialogs, whose saved row is shown at once where it sorts. A table whose plugin does
// not describe itself is listed as JSON, read-only. Everything the table, its
// schema or its rows say reaches the page as text.
import { request, ApiError } from './api.js';
import { h, withBusy, coalescedLoad, flash } from './dom.js';
import { ListQuery, nextQuery, orderLabel } from './listing.js';
import { describe as describeSchema, buildField, formatValue, formatDate } from './schema.js';

function problemText(err) {
  if (err instanceof ApiError) return err.message;
  if (err && err.name === 'AbortError') return 'The server did not answer in time.';
  return 'The server could not be reached.';
}

const capitalize = (s) => (s ? s[0].toUpperCase() + s.slice(1) : s);

const searchIcon = () => {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 20 20');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const c = document.createElementNS(ns, 'circle');
  c.setAttribute('cx', '8.5'); c.setAttribute('cy', '8.5'); c.setAttribute('r', '5.5');
  const p = document.createElementNS(ns, 'path');
  p.setAttribute('d', 'm13 13 4.5 4.5');
  svg.append(c, p);
  return svg;
};

export class TableView {
  // entry: {table, plugin, version, sha, schema} from /_schema.
  constructor(entry, { toast, pageSize = 25 }) {
    this.entry = entry;
    this.table = entry.table;
    this.toast = toast;
    this.info = describeSchema(entry);
    this.list = new ListQuery();
    this.list.setFields(entry);
    this.list.pageSize = pageSize;
    this.filter = '';
    this.rows = [];
    this.rowsById = new Map();
    this.loadSeq = 0;
    this.loading = null;
    this.firstRender = true;
    this.build();
  }

  get path() { return encodeURIComponent(this.table); }

  // The schema changed (a new plugin version): rebuild, keeping the page. An
  // open dialog is left alone; the rebuild waits until it closes.
  setEntry(entry) {
    if (this.dialog.open || this.confirm.open) {
      this.pendingEntry = entry;
      return;
    }
    this.pendingEntry = null;
    const container = this.el.isConnected ? this.el.parentNode : null;
    const hadFocus = this.el.contains(document.activeElement);
    if (container) this.unmount();
    this.entry = entry;
    this.info = describeSchema(entry);
    this.list.setFields(entry);
    this.rowsById.clear();
    this.firstRender = true;
    this.filter = '';
    this.build();
    if (container) this.mount(container);
    this.render(this.rows);
    if (hadFocus) this.title.focus();
  }

  // Called when a dialog closed: a schema that came meanwhile is applied now.
  afterDialog() {
    this.restoreFocus();
    if (this.pendingEntry) setTimeout(() => { if (this.pendingEntry) this.setEntry(this.pendingEntry); });
  }

  build() {
    const info = this.info;
    this.title = h('h1', { id: 'table-title', tabindex: '-1' }, info.heading);
    this.summary = h('p', { class: 'muted', id: 'table-summary', 'aria-live': 'polite' });
    this.newButton = h('button', { type: 'button', class: 'btn btn-primary btn-new', id: 'new-row', title: `New ${info.noun}` },
      h('span', { 'aria-hidden': 'true' }, '+'), h('span', { class: 'btn-text' }, `New ${info.noun}`));
    this.newButton.addEventListener('click', () => this.openForm(null, this.newButton));
    if (!info.editable) this.newButton.hidden = true;

    // With search fields the box searches the table (?q=); without, it
    // filters the rows of the loaded page.
    const list = this.list;
    const searchLabels = list.search.map((f) => info.fields.find((x) => x.name === f)?.label || f);
    const searchText = searchLabels.join(' or ');
    this.filterInput = h('input', {
      type: 'search', id: 'table-filter', placeholder: list.searchable ? `Search by ${searchText}` : 'Filter this page',
      autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'table-filter-note',
    });
    if (list.q) this.filterInput.value = list.q;
    let debounce;
    this.filterInput.addEventListener('input', () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => {
        const text = this.filterInput.value.trim();
        if (this.list.searchable) {
          if (text === this.list.q) return;
          this.list.setSearch(text);
          this.load();
        } else {
          this.filter = text.toLowerCase();
          this.applyFilter();
        }
      }, list.searchable ? 250 : 150);
    });
    this.pageSelect = h('select', { id: 'table-page-size' },
      ...[10, 25, 50, 100].map((n) => h('option', { value: String(n) }, String(n))));
    this.pageSelect.value = String(list.pageSize);
    this.pageSelect.addEventListener('change', () => {
      this.list.setPageSize(Number(this.pageSelect.value));
      this.load();
    });
    this.orderSelect = h('select', { id: 'table-order', 'aria-label': 'Order' });
    this.orderSelect.addEventListener('change', () => {
      this.list.setOrder(this.orderSelect.value);
      this.load();
    });
    this.orderPick = h('label', { class: 'page-size order-pick' }, h('span', {}, 'Order'), this.orderSelect);
    this.fillOrders();

    this.error = h('p', { class: 'alert alert-error', id: 'table-error', role: 'alert', hidden: true });
    this.body = h('tbody', { id: 'table-body' });
    const head = h('tr');
    if (info.editable) {
      for (const f of info.columns) head.append(h('th', { scope: 'col', class: `col-${f.kind}` }, f.label));
      if (info.hasUpdated) head.append(h('th', { scope: 'col', class: 'col-date' }, 'Updated'));
      head.append(h('th', { scope: 'col', class: 'col-actions' }, h('span', { class: 'sr-only' }, 'Actions')));
    } else {
      head.append(h('th', { scope: 'col' }, 'Row (JSON)'));
    }
    this.empty = h('p', { class: 'empty', id: 'table-empty', hidden: true });
    this.prev = h('button', { type: 'button', class: 'btn btn-ghost btn-small', id: 'table-prev' }, '← Previous');
    this.nextButton = h('button', { type: 'button', class: 'btn btn-ghost btn-small', id: 'table-next' }, 'Next →');
    this.pageLabel = h('span', { class: 'muted', id: 'table-page-label' }, 'Page 1');
    this.prev.addEventListener('click', () => { if (this.list.prevPage()) this.load(); });
    this.nextButton.addEventListener('click', () => { if (this.list.nextPage()) this.load(); });

    this.el = h('section', { class: 'card table-card', id: 'table-card', 'aria-labelledby': 'table-title' },
      h('div', { class: 'card-head' },
        h('div', {}, this.title, this.summary),
        this.newButton),
      info.description ? h('p', { class: 'table-about' }, info.description) : null,
      info.editable ? null : h('p', { class: 'alert alert-warn', id: 'table-note' },
        'The plugin of this table does not describe its rows, so they are shown as JSON and cannot be edited here.'),
      h('div', { class: 'toolbar' },
        h('label', { class: 'search' },
          h('span', { class: 'sr-only' }, list.searchable ? `Search the ${this.table} by ${searchText}`
            : `Filter the ${this.table} on this page`),
          searchIcon(),
          this.filterInput),
        this.orderPick,
        h('label', { class: 'page-size' }, h('span', {}, 'Per page'), this.pageSelect)),
      h('p', { class: 'muted filter-note', id: 'table-filter-note' },
        list.searchable ? `Finds rows whose ${searchText} starts with what you type, across the whole table.`
          : 'The filter looks only at the rows of this page: this table has no search fields.'),
      this.error,
      h('div', { class: 'table-wrap data-wrap' },
        h('table', { class: `data${info.editable ? '' : ' data-json'}`, id: 'data-table' },
          h('caption', { class: 'sr-only' }, info.heading),
          h('thead', {}, head),
          this.body),
        this.empty),
      h('nav', { class: 'pager', 'aria-label': 'Pages' }, this.prev, this.pageLabel, this.nextButton));
    this.buildDialogs();
  }

  buildDialogs() {
    this.formTitle = h('h2', { id: 'row-dialog-title' });
    this.formError = h('p', { class: 'alert alert-error', id: 'row-form-error', role: 'alert', hidden: true });
    this.formFields = h('div', { class: 'form-fields' });
    this.saveButton = h('button', { type: 'submit', class: 'btn btn-primary', id: 'row-save' },
      h('span', { class: 'spinner', 'aria-hidden': 'true' }), h('span', { class: 'label' }, 'Create'));
    const cancel = h('button', { type: 'button', class: 'btn btn-ghost' }, 'Cancel');
    const form = h('form', { novalidate: true },
      this.formTitle,
      h('p', { class: 'muted' }, 'Fields marked * are required.'),
      this.formError,
      this.formFields,
      h('div', { class: 'dialog-actions' }, cancel, this.saveButton));
    this.dialog = h('dialog', { id: 'row-dialog', class: 'row-dialog', 'aria-labelledby': 'row-dialog-title' }, form);
    cancel.addEventListener('click', () => this.dialog.close());
    form.addEventListener('submit', (e) => { e.preventDefault(); this.save(); });
    this.dialog.addEventListener('close', () => this.afterDialog());

    this.confirmText = h('p', { id: 'row-confirm-text' });
    this.confirmError = h('p', { class: 'alert alert-error', role: 'alert', hidden: true });
    this.deleteButton = h('button', { type: 'submit', class: 'btn btn-danger', id: 'row-delete' },
      h('span', { class: 'spinner', 'aria-hidden': 'true' }), h('span', { class: 'label' }, 'Delete'));
    const keep = h('button', { type: 'button', class: 'btn btn-ghost', autofocus: true }, 'Cancel');
    const confirmForm = h('form', {},
      h('h2', { id: 'row-confirm-title' }, `Delete ${this.info.noun}?`),
      this.confirmText,
      this.confirmError,
      h('div', { class: 'dialog-actions' }, keep, this.deleteButton));
    this.confirm = h('dialog', {
      id: 'row-confirm-dialog', 'aria-labelledby': 'row-confirm-title', 'aria-describedby': 'row-confirm-text',
    }, confirmForm);
    this.confirmKeep = keep;
    keep.addEventListener('click', () => this.confirm.close());
    confirmForm.addEventListener('submit', (e) => { e.preventDefault(); this.confirmDelete(); });
    this.confirm.addEventListener('close', () => this.afterDialog());
  }

  // Puts the view into `container` and its dialogs into the page.
  mount(container) {
    container.replaceChildren(this.el);
    document.body.append(this.dialog, this.confirm);
  }

  // Takes the view and its dialogs out of the page (kept for a later mount).
  unmount() {
    this.closeDialogs();
    this.el.remove();
    this.dialog.remove();
    this.confirm.remove();
  }

  closeDialogs() {
    if (this.dialog && this.dialog.open) this.dialog.close();
    if (this.confirm && this.confirm.open) this.confirm.close();
  }

  focusTitle() { this.title.focus(); }

  // The order select: the orders the table takes.
  fillOrders() {
    const label = (f) => this.info.fields.find((x) => x.name === f)?.label || f;
    this.orderSelect.replaceChildren(...this.list.orders.map((o) => h('option', { value: o }, orderLabel(o, label))));
    this.orderSelect.value = this.list.order;
    this.orderPick.hidden = this.list.orders.length < 2;
  }

  // Reloads the current page; overlapping calls share one load (coalescedLoad).
  load(options) {
    return coalescedLoad(this, options, async (seq, strong) => {
      try {
        await this.loadPage(seq, strong);
        this.error.hidden = true;
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 401)) {
          this.error.textContent = `Could not load ${this.table}: ${problemText(err)}`;
          this.error.hidden = false;
        }
      }
    });
  }


  async loadPage(seq, strong) {
    const list = this.list;
    let res;
    try {
      res = await request('GET', `${this.path}?${list.params(strong)}`);
    } catch (err) {
      // A plugin that cannot be queried refuses every order but id: id order.
      if (err instanceof ApiError && err.status === 400 && list.order !== 'id' && err.field !== 'q') {
        list.refuseOrders();
        this.fillOrders();
        return this.loadPage(seq, strong);
      }
      throw err;
    }
    if (seq !== this.loadSeq) return;
    const rows = (Array.isArray(res.body) ? res.body : []).filter((r) => r !== null && typeof r === 'object');
    if (rows.length === 0 && list.page > 0) {
      // The page emptied (deletions elsewhere): step back.
      list.prevPage();
      return this.loadPage(seq, strong);
    }
    list.next = nextQuery(res.headers);
    this.rows = rows;
    // Rows are highlighted when they appear on a refresh, not when the view changed.
    const shown = `${list.order}|${list.q}|${list.pageSize}|${list.page}|${list.pages[list.page] || ''}`;
    if (shown !== this.shownPage) this.firstRender = true;
    this.shownPage = shown;
    this.render(list.arrange(rows));
    this.pageLabel.textContent = `Page ${list.page + 1}`;
    this.prev.disabled = list.page === 0;
    this.nextButton.disabled = !list.next;
    return undefined;
  }

  rowKey(row, i) {
    const id = row.id;
    return typeof id === 'string' || typeof id === 'number' ? `id:${id}` : `at:${this.list.page}:${i}`;
  }

  rowLabel(row) {
    const f = this.info.labelField;
    const v = f ? row[f] : undefined;
    if (typeof v === 'string' && v.trim() !== '') return v;
    return row.id === undefined ? this.info.noun : String(row.id);
  }

  // Updates the table in place, keyed by id, so focus and scroll survive a
  // refresh. `items` are {row, outside} (ListQuery.arrange): a saved row that
  // sorts elsewhere comes first, marked.
  render(items) {
    const seen = new Set();
    items.forEach(({ row: r, outside }, i) => {
      const key = this.rowKey(r, i);
      seen.add(key);
      let row = this.rowsById.get(key);
      if (!row) {
        row = this.makeRow(r);
        this.rowsById.set(key, row);
        if (!this.firstRender) flash(row.tr, 'flash', 1600);
      }
      this.updateRow(row, r);
      this.setOutside(row, outside);
      if (this.body.children[i] !== row.tr) this.body.insertBefore(row.tr, this.body.children[i] || null);
    });
    for (const [key, row] of this.rowsById) {
      if (seen.has(key)) continue;
      const hadFocus = row.tr.contains(document.activeElement);
      row.tr.remove();
      this.rowsById.delete(key);
      if (hadFocus) this.title.focus();
    }
    this.firstRender = false;
    this.applyFilter();
  }

  setOutside(row, outside) {
    if (!outside) {
      delete row.tr.dataset.outside;
      row.tr.removeAttribute('title');
      return;
    }
    row.tr.dataset.outside = 'true';
    row.tr.title = this.list.matches(row.data) ? 'Saved here; it sorts on another page' : 'Saved here; it is not in this search';
  }

  // Shows a row saved through the form at once, where it sorts (or first,
  // marked, when it sorts elsewhere), highlighted.
  showSaved(saved) {
    if (!saved || typeof saved !== 'object' || saved.id === undefined || saved.id === null) return;
    this.list.pin(saved);
    this.rows = this.rows.filter((r) => r.id !== saved.id);
    this.render(this.list.arrange(this.rows));
    const row = this.rowsById.get(this.rowKey(saved, 0));
    if (row) {
      row.tr.hidden = false; // the page filter does not hide what was just saved
      flash(row.tr, 'saved', 4000);
      row.tr.scrollIntoView({ block: 'nearest' });
    }
  }

  makeRow(r) {
    const info = this.info;
    const row = { data: r, cells: [], tr: h('tr') };
    if (!info.editable) {
      row.json = h('pre', { class: 'json' });
      row.tr.append(h('td', { class: 'col-json' }, row.json));
      return row;
    }
    info.columns.forEach((f) => {
      const short = f.kind === 'string' && f.maxLength !== undefined && f.maxLength <= 40;
      const td = h('td', {
        class: `col-${f.kind}${f.name === info.labelField ? ' col-label' : ''}${short ? ' nowrap' : ''}`, 'data-label': f.label,
      });
      row.cells.push({ field: f, td });
      row.tr.append(td);
    });
    if (info.hasUpdated) {
      row.updated = h('td', { class: 'col-date', 'data-label': 'Updated' });
      row.tr.append(row.updated);
    }
    row.edit = h('button', { type: 'button', class: 'btn btn-ghost btn-small', 'data-action': 'edit' }, 'Edit');
    row.del = h('button', { type: 'button', class: 'btn btn-ghost btn-small btn-danger-text', 'data-action': 'delete' }, 'Delete');
    row.edit.addEventListener('click', () => this.openForm(row.data, row.edit));
    row.del.addEventListener('click', () => this.askDelete(row.data, row.del));
    row.tr.append(h('td', { class: 'col-actions' }, h('span', { class: 'row-actions' }, row.edit, row.del)));
    return row;
  }

  updateRow(row, r) {
    row.data = r;
    const set = (el, t) => { if (el.textContent !== t) el.textContent = t; };
    if (typeof r.id === 'string' || typeof r.id === 'number') row.tr.dataset.id = String(r.id);
    if (!this.info.editable) {
      set(row.json, JSON.stringify(r, null, 2));
      row.search = JSON.stringify(r).toLowerCase();
      return;
    }
    for (const { field, td } of row.cells) {
      const t = formatValue(field, r[field.name]);
      set(td, t);
      td.classList.toggle('is-empty', r[field.name] === undefined || r[field.name] === null);
      if (t.endsWith('…')) td.title = JSON.stringify(r[field.name]); else td.removeAttribute('title');
    }
    if (row.updated) {
      const at = r.updated_at || r.created_at;
      set(row.updated, at ? formatDate(at) : '—');
      if (r.created_at) row.updated.title = `Created ${formatDate(r.created_at)}`;
    }
    const label = this.rowLabel(r);
    row.edit.setAttribute('aria-label', `Edit ${label}`);
    row.del.setAttribute('aria-label', `Delete ${label}`);
    row.search = row.cells.map((c) => c.td.textContent).concat(String(r.id ?? '')).join('\n').toLowerCase();
  }

  // Hides the rows of this page that do not match the filter.
  applyFilter() {
    let shown = 0;
    for (const row of this.rowsById.values()) {
      const match = !this.filter || row.search.includes(this.filter);
      row.tr.hidden = !match;
      if (match) shown++;
    }
    const total = this.rows.length;
    const first = this.list.page * this.list.pageSize + 1;
    const range = `${first.toLocaleString('en-US')}–${(first + total - 1).toLocaleString('en-US')}`;
    if (this.filter) {
      this.summary.textContent = `${shown.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} rows on this page match`;
    } else if (this.list.q && this.list.searchable) {
      this.summary.textContent = this.list.page === 0 && !this.list.next
        ? `${total.toLocaleString('en-US')} ${total === 1 ? 'match' : 'matches'}` : `Showing matches ${range}`;
    } else {
      this.summary.textContent = total
        ? `Showing ${first.toLocaleString('en-US')}–${(first + total - 1).toLocaleString('en-US')}`
        : `No ${this.table}`;
    }
    this.empty.textContent = this.filter ? 'No row on this page matches the filter.'
      : this.list.q && this.list.searchable ? 'No row matches this search.'
      : this.info.editable ? `Nothing here yet. Create the first with “New ${this.info.noun}”.` : 'Nothing here yet.';
    this.empty.hidden = shown > 0;
  }

  openForm(data, opener) {
    this.editing = data;
    this.opener = opener;
    this.formError.hidden = true;
    this.formTitle.textContent = data ? `Edit ${this.info.noun}` : `New ${this.info.noun}`;
    this.saveButton.querySelector('.label').textContent = data ? 'Save changes' : `Create ${this.info.noun}`;
    this.inputs = new Map();
    const blocks = [];
    this.info.fields.forEach((field, i) => {
      if (field.readOnly && !data) return; // set by the server: nothing to show yet
      const built = buildField(field, { value: data ? data[field.name] : undefined, creating: !data, id: `row-f${i}` });
      built.control.addEventListener('input', () => this.setFieldError(field.name, ''));
      built.control.addEventListener('change', () => this.setFieldError(field.name, ''));
      this.inputs.set(field.name, built);
      blocks.push(built.el);
    });
    // Editable fields first, then what the server set.
    blocks.sort((a, b) => Number(a.classList.contains('field-readonly')) - Number(b.classList.contains('field-readonly')));
    this.formFields.replaceChildren(...blocks);
    this.dialog.showModal();
    const first = [...this.inputs.values()].find((b) => !b.field.readOnly);
    if (first) first.control.focus();
  }

  restoreFocus() {
    const el = this.opener && this.opener.isConnected ? this.opener : this.title;
    if (el.isConnected) el.focus();
  }

  setFieldError(name, message) {
    const built = this.inputs && this.inputs.get(name);
    if (!built || built.field.readOnly) return false;
    built.error.textContent = message;
    if (message) built.control.setAttribute('aria-invalid', 'true');
    else built.control.removeAttribute('aria-invalid');
    return true;
  }

  // The request body from the form, or null after showing the form's errors.
  readForm() {
    const body = {};
    let firstBad = null;
    for (const [name, built] of this.inputs) {
      if (built.field.readOnly) continue;
      const r = built.read();
      if (r.error) {
        this.setFieldError(name, r.error);
        firstBad = firstBad || built;
      } else {
        this.setFieldError(name, '');
        if (!r.omit) body[name] = r.value;
      }
    }
    if (firstBad) {
      firstBad.control.focus();
      return null;
    }
    return body;
  }

  async save() {
    await withBusy(this.saveButton, this.editing ? 'Saving…' : 'Creating…', async () => {
      this.formError.hidden = true;
      const body = this.readForm();
      if (!body) return;
      const editing = this.editing;
      try {
        const res = editing
          ? await request('PUT', `${this.path}/${encodeURIComponent(editing.id)}`, { body })
          : await request('POST', this.path, { body });
        this.dialog.close();
        const saved = res.body && typeof res.body === 'object' ? res.body : body;
        const label = this.rowLabel(saved);
        if (res.status === 202) this.toast('Accepted — it will appear once the cluster applies it.');
        else {
          this.toast(editing ? `Saved ${label}.` : `Created ${label}.`);
          this.showSaved(res.body);
        }
        await this.load({ strong: true });
      } catch (err) {
        if (err instanceof ApiError && err.field && this.setFieldError(err.field, err.message)) {
          this.inputs.get(err.field).control.focus();
        } else {
          this.formError.textContent = err instanceof ApiError && err.status === 404 && editing
            ? `This ${this.info.noun} no longer exists: it was deleted meanwhile.`
            : problemText(err);
          this.formError.hidden = false;
        }
      }
    });
  }

  askDelete(data, opener) {
    this.pendingDelete = data;
    this.opener = opener;
    this.confirmText.textContent = `${capitalize(this.info.noun)} “${this.rowLabel(data)}” (id ${data.id}) will be deleted on every node. This cannot be undone.`;
    this.confirmError.hidden = true;
    this.confirm.showModal();
    this.confirmKeep.focus();
  }

  async confirmDelete() {
    const data = this.pendingDelete;
    if (!data) return;
    await withBusy(this.deleteButton, 'Deleting…', async () => {
      const label = this.rowLabel(data);
      try {
        await request('DELETE', `${this.path}/${encodeURIComponent(data.id)}`);
        this.toast(`Deleted ${label}.`);
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) {
          this.confirmError.textContent = problemText(err);
          this.confirmError.hidden = false;
          return;
        }
        this.toast(`${label} was already deleted.`);
      }
      this.pendingDelete = null;
      this.list.unpin(data.id);
      this.confirm.close();
      await this.load({ strong: true });
    });
  }
}
