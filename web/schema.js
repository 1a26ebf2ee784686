// Tables and their entity schemas (GET /_schema), read into what the generic
// table view needs: the fields, their inputs and checks, and how a value is
// shown. Schemas come from plugins and configuration files: every name, title,
// description and enum value is treated as hostile text, never as markup, and
// a schema of the wrong shape degrades to what can still be shown.
import { request } from './api.js';
import { h } from './dom.js';

// A string member of `o`, or ''.
const text = (o, k) => (o && typeof o[k] === 'string' ? o[k] : '');
// A finite number member of `o`, or undefined.
const num = (o, k) => (o && typeof o[k] === 'number' && Number.isFinite(o[k]) ? o[k] : undefined);
// The strings of an array member, or [].
const strings = (v) => (Array.isArray(v) ? v.filter((s) => typeof s === 'string' && s !== '') : []);
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// "order_items" -> "Order items": a heading made of a table name.
export function humanize(name) {
  const s = String(name).replace(/_+/g, ' ').trim();
  return s ? s[0].toUpperCase() + s.slice(1) : String(name);
}

// GET /_schema: [{table, plugin, version, sha, schema, filters, search, orders}]
// in the node's order.
// Entries that are not objects with a table name are left out.
export async function fetchTables() {
  const res = await request('GET', '_schema');
  const list = res.body && Array.isArray(res.body.tables) ? res.body.tables : [];
  const seen = new Set();
  const tables = [];
  for (const t of list) {
    if (!isObject(t) || typeof t.table !== 'string' || t.table === '' || seen.has(t.table)) continue;
    seen.add(t.table);
    tables.push({
      table: t.table,
      plugin: text(t, 'plugin'),
      version: Number.isInteger(t.version) ? t.version : 0,
      sha: text(t, 'schema_sha256'),
      schema: isObject(t.schema) ? t.schema : null,
      // What GET /{table} takes: ?field=value, ?q= over these, ?order= one of these.
      filters: strings(t.filters),
      search: strings(t.search),
      orders: strings(t.orders),
    });
  }
  return tables;
}

// The kind of input a property gets.
function kindOf(p, types) {
  if (Array.isArray(p.enum) && p.enum.length > 0) return 'enum';
  const t = types[0];
  if (t === 'boolean' || t === 'integer' || t === 'number') return t;
  if (t === 'string') {
    const max = num(p, 'maxLength');
    return max !== undefined && max > 255 ? 'text' : 'string';
  }
  return 'json'; // object, array, or no type: edited as JSON text
}

// Reads a table's schema into {title, noun, description, fields, columns,
// labelField, hasUpdated}. `schema` is null for a table whose plugin does
// not describe itself.
export function describe(entry) {
  const schema = entry.schema;
  const heading = humanize(entry.table);
  if (!schema) {
    return { heading, noun: 'row', description: '', fields: [], columns: [], labelField: null, editable: false };
  }
  const props = isObject(schema.properties) ? schema.properties : {};
  const required = new Set(Array.isArray(schema.required) ? schema.required.filter((r) => typeof r === 'string') : []);
  const unique = new Set(Array.isArray(schema['x-unique']) ? schema['x-unique'].filter((r) => typeof r === 'string') : []);
  const fields = [];
  for (const [name, raw] of Object.entries(props)) {
    const p = isObject(raw) ? raw : {};
    const rawTypes = Array.isArray(p.type) ? p.type : [p.type];
    const types = rawTypes.filter((t) => typeof t === 'string' && t !== 'null');
    fields.push({
      name,
      label: text(p, 'title') || name,
      description: text(p, 'description'),
      kind: kindOf(p, types),
      format: text(p, 'format'),
      nullable: rawTypes.includes('null'),
      enum: Array.isArray(p.enum) ? p.enum : null,
      readOnly: p.readOnly === true,
      required: required.has(name),
      unique: unique.has(name),
      hasDefault: Object.prototype.hasOwnProperty.call(p, 'default'),
      default: p.default,
      minLength: num(p, 'minLength'),
      maxLength: num(p, 'maxLength'),
      pattern: text(p, 'pattern'),
      minimum: num(p, 'minimum'),
      maximum: num(p, 'maximum'),
      exclusiveMinimum: num(p, 'exclusiveMinimum'),
      exclusiveMaximum: num(p, 'exclusiveMaximum'),
      multipleOf: num(p, 'multipleOf'),
    });
  }
  const writable = fields.filter((f) => !f.readOnly);
  // The field that names a row in buttons and messages.
  const labelField = ['name', 'title', 'label'].map((n) => writable.find((f) => f.name === n && f.kind === 'string')).find(Boolean)
    || writable.find((f) => f.required && f.kind === 'string')
    || writable.find((f) => f.kind === 'string')
    || null;
  // List columns: short writable values, at most six, then when the row was updated.
  const columns = writable.filter((f) => f.kind !== 'text' && f.kind !== 'json').slice(0, 6);
  const hasUpdated = fields.some((f) => f.name === 'updated_at') || fields.some((f) => f.name === 'created_at');
  return {
    heading,
    noun: text(schema, 'title') || 'row',
    description: text(schema, 'description'),
    fields,
    columns: columns.length ? columns : writable.slice(0, 6),
    labelField: labelField ? labelField.name : null,
    hasUpdated,
    editable: true,
  };
}

const dateFmt = new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'short' });
export function formatDate(s) {
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? (s == null ? '' : String(s)) : dateFmt.format(d);
}

// A value as the text of a list cell.
export function formatValue(field, value) {
  if (value === undefined || value === null) return '—';
  if (typeof value === 'boolean') return value ? 'Yes' : 'No';
  if (typeof value === 'object') {
    const s = JSON.stringify(value);
    return s.length > 80 ? `${s.slice(0, 79)}…` : s;
  }
  if (field && field.format === 'date-time' && typeof value === 'string') return formatDate(value);
  return String(value);
}

// A regular expression of the schema's dialect (ECMA-262, unanchored), or
// null when this browser cannot compile it.
function schemaRegExp(pattern) {
  try { return new RegExp(pattern, 'u'); } catch { return null; }
}

// The same pattern as an HTML pattern attribute: HTML anchors the whole value
// and compiles with the `v` flag, so the schema's pattern is wrapped to keep
// its meaning; null when the wrapped form does not compile.
function htmlPattern(pattern) {
  const wrapped = `[\\s\\S]*(?:${pattern})[\\s\\S]*`;
  try { new RegExp(`^(?:${wrapped})$`, 'v'); return wrapped; } catch { return null; }
}

const inputTypes = { email: 'email', uri: 'url', url: 'url', date: 'date', time: 'time' };

// Builds the form control of one field: {el (the .field block), control (what
// takes focus), error (where its error goes), read()}. `value` is the row's
// value when editing, undefined when creating (the default is used then).
// `id` is a unique id prefix for the control.
export function buildField(field, { value, creating, id }) {
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const hint = [field.description, field.unique ? 'Unique: no two rows may have the same value.' : '',
    field.readOnly ? 'Set by the server.' : '']
    .filter(Boolean).join(' ');
  const describedBy = [hint ? hintId : null, errorId].filter(Boolean).join(' ');
  const initial = creating ? (field.hasDefault ? field.default : undefined) : value;
  const reqMark = field.required && !field.readOnly && field.kind !== 'boolean'
    ? h('span', { class: 'req', 'aria-hidden': 'true', title: 'required' }, '*') : null;
  let control;
  let label;

  if (field.readOnly) {
    // Shown, not editable, not sent.
    control = h('input', { id, type: 'text', readonly: true, class: 'readonly', 'aria-describedby': describedBy });
    control.value = initial === undefined || initial === null ? '' : (typeof initial === 'object' ? JSON.stringify(initial) : String(initial));
  } else if (field.kind === 'enum') {
    control = h('select', { id, 'aria-describedby': describedBy, required: field.required });
    const blank = !field.required || field.nullable || initial === undefined;
    if (blank) control.append(h('option', { value: '' }, field.required ? 'Choose…' : '—'));
    field.enum.forEach((v, i) => control.append(h('option', { value: String(i) }, typeof v === 'string' ? v : JSON.stringify(v))));
    const at = field.enum.findIndex((v) => JSON.stringify(v) === JSON.stringify(initial));
    control.value = at >= 0 ? String(at) : '';
  } else if (field.kind === 'boolean') {
    control = h('input', { id, type: 'checkbox', 'aria-describedby': describedBy });
    control.checked = initial === true;
    label = h('label', { for: id, class: 'check' }, control, h('span', {}, field.label));
  } else if (field.kind === 'integer' || field.kind === 'number') {
    let min = field.minimum;
    let max = field.maximum;
    if (field.kind === 'integer') {
      if (field.exclusiveMinimum !== undefined) min = Math.max(min ?? -Infinity, Math.floor(field.exclusiveMinimum) + 1);
      if (field.exclusiveMaximum !== undefined) max = Math.min(max ?? Infinity, Math.ceil(field.exclusiveMaximum) - 1);
    }
    const step = field.multipleOf ?? (field.kind === 'integer' ? 1 : 'any');
    control = h('input', {
      id, type: 'number', inputmode: field.kind === 'integer' ? 'numeric' : 'decimal', step,
      min: Number.isFinite(min) ? min : null, max: Number.isFinite(max) ? max : null,
      required: field.required, 'aria-describedby': describedBy, autocomplete: 'off',
    });
    control.value = typeof initial === 'number' ? String(initial) : '';
  } else if (field.kind === 'text' || field.kind === 'json') {
    control = h('textarea', {
      id, rows: field.kind === 'json' ? 4 : 3, required: field.required, 'aria-describedby': describedBy,
      maxlength: field.kind === 'text' ? field.maxLength : null, minlength: field.kind === 'text' ? field.minLength : null,
      spellcheck: field.kind === 'json' ? 'false' : null,
      class: field.kind === 'json' ? 'mono' : null,
    });
    if (field.kind === 'json') control.value = initial === undefined ? '' : JSON.stringify(initial, null, 2);
    else control.value = typeof initial === 'string' ? initial : '';
  } else {
    control = h('input', {
      id, type: inputTypes[field.format] || 'text', autocomplete: 'off', spellcheck: 'false',
      required: field.required, 'aria-describedby': describedBy,
      maxlength: field.maxLength, minlength: field.minLength,
      pattern: field.pattern ? htmlPattern(field.pattern) : null,
    });
    control.value = typeof initial === 'string' ? initial : '';
  }
  if (field.required && !field.readOnly) control.setAttribute('aria-required', 'true');
  // The mark stays outside the label, so the control's name is the label alone
  // (aria-required says it is required).
  if (!label) label = reqMark ? h('div', { class: 'field-label' }, h('label', { for: id }, field.label), reqMark) : h('label', { for: id }, field.label);
  const error = h('p', { class: 'field-error', id: errorId });
  const el = h('div', { class: `field field-${field.kind}${field.readOnly ? ' field-readonly' : ''}` },
    label,
    field.kind === 'boolean' ? null : control,
    hint ? h('p', { class: 'field-hint', id: hintId }, hint) : null,
    error);
  el.dataset.field = field.name;
  return { field, el, control, error, read: () => readField(field, control) };
}

const codePoints = (s) => [...s].length;
const chars = (n) => `${n} character${n === 1 ? '' : 's'}`;

// The value of a field's control, checked against the field's constraints:
// {value} to send, {omit: true} to leave the property out, or {error}.
function readField(field, control) {
  const missing = () => (field.required ? { error: `${field.label} is required.` }
    : field.nullable ? { value: null } : { omit: true });
  switch (field.kind) {
    case 'enum':
      if (control.value === '') return missing();
      return { value: field.enum[Number(control.value)] };
    case 'boolean':
      return { value: control.checked };
    case 'integer':
    case 'number': {
      if (control.validity.badInput) return { error: `${field.label} must be a number.` };
      if (control.value.trim() === '') return missing();
      const n = Number(control.value);
      if (!Number.isFinite(n)) return { error: `${field.label} must be a number.` };
      if (field.kind === 'integer' && !Number.isInteger(n)) return { error: `${field.label} must be a whole number.` };
      if (field.minimum !== undefined && n < field.minimum) return { error: `${field.label} must be at least ${field.minimum}.` };
      if (field.maximum !== undefined && n > field.maximum) return { error: `${field.label} must be at most ${field.maximum}.` };
      if (field.exclusiveMinimum !== undefined && n <= field.exclusiveMinimum) return { error: `${field.label} must be more than ${field.exclusiveMinimum}.` };
      if (field.exclusiveMaximum !== undefined && n >= field.exclusiveMaximum) return { error: `${field.label} must be less than ${field.exclusiveMaximum}.` };
      return { value: n };
    }
    case 'json': {
      if (control.value.trim() === '') return missing();
      try { return { value: JSON.parse(control.value) }; } catch { return { error: `${field.label} is not valid JSON.` }; }
    }
    default: {
      const s = control.value;
      if (s === '' && (field.required || (field.minLength ?? 0) > 0 || field.nullable)) return missing();
      const n = codePoints(s);
      if (field.minLength !== undefined && n < field.minLength) return { error: `${field.label} must be at least ${chars(field.minLength)}.` };
      if (field.maxLength !== undefined && n > field.maxLength) return { error: `${field.label} must be at most ${chars(field.maxLength)}.` };
      if (field.pattern) {
        const re = schemaRegExp(field.pattern);
        if (re && !re.test(s)) return { error: `${field.label} does not have the expected form (${field.pattern}).` };
      }
      return { value: s };
    }
  }
}
