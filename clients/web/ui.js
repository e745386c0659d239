// Small DOM helpers shared by the panels (no framework, no build step).

/**
 * Creates an element: h('button', {id: 'x', class: 'primary', onclick: fn}, 'text', child...).
 * Attributes starting with "on" are event listeners; others are set as attributes.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const listeners = new Set();

/** Adds a line to the server log panel: kind is 'info', 'ok', 'warn' or 'bad'. */
export function log(kind, text) {
  for (const fn of listeners) fn(kind, text);
}

/** The server panel subscribes here. */
export function onLog(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Text for an SDK error. */
export function errorText(e) {
  if (e && e.code) {
    const wait = e.retryAfterMs !== undefined ? ` (retry in ${Math.ceil(e.retryAfterMs / 1000)} s)` : '';
    return `${e.code}: ${e.msg}${wait}`;
  }
  return String(e);
}

/**
 * A panel's action runner: act(what, fn) runs fn; when it worked, logs
 * `what` (if any) and resolves true; when it threw, shows the error in
 * `errorEl` and resolves false.
 */
export function actions(errorEl, logFn = log) {
  return async (what, fn) => {
    errorEl.textContent = '';
    try {
      await fn();
      if (what) logFn('ok', what);
      return true;
    } catch (e) {
      errorEl.textContent = errorText(e);
      return false;
    }
  };
}
