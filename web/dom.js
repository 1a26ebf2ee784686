// Small DOM helpers.

// h('button', {class: 'x', onclick: fn}, 'text', child...)
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// Marks a button busy while `work` runs; a second click meanwhile is ignored.
export async function withBusy(button, busyLabel, work) {
  if (button.dataset.busy === 'true') return undefined;
  const label = button.querySelector('.label') || button;
  const idle = label.textContent;
  button.dataset.busy = 'true';
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  label.textContent = busyLabel;
  try {
    return await work();
  } finally {
    delete button.dataset.busy;
    button.disabled = false;
    button.removeAttribute('aria-busy');
    label.textContent = idle;
  }
}

// Runs `body(seq, strong)` for `view`'s load() unless a load is running:
// overlapping calls share one load, and a call made meanwhile (unless
// `quiet`) schedules one more afterwards, strong if any of them asked. `view`
// keeps `loading`, `again` and `loadSeq` (the latest load, so a slower one's
// page is dropped); `body` shows its own errors.
export function coalescedLoad(view, { quiet = false, strong = false } = {}, body) {
  if (view.loading) {
    if (quiet) return view.loading;
    view.again = { strong: strong || (view.again && view.again.strong) };
    return view.loading;
  }
  const seq = ++view.loadSeq;
  view.loading = (async () => {
    try {
      await body(seq, strong);
    } finally {
      view.loading = null;
    }
    if (view.again) {
      const again = view.again;
      view.again = null;
      await view.load(again);
    }
  })();
  return view.loading;
}

// Adds class `cls` to `el` for `ms` milliseconds (a CSS animation), restarting
// it when it is already running.
const flashTimers = new WeakMap();
export function flash(el, cls, ms) {
  const timers = flashTimers.get(el) || {};
  flashTimers.set(el, timers);
  clearTimeout(timers[cls]);
  el.classList.remove(cls);
  void el.offsetWidth; // restarts the animation
  el.classList.add(cls);
  timers[cls] = setTimeout(() => el.classList.remove(cls), ms);
}
