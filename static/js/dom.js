// Small DOM helpers. The setters skip writes that would not change anything, so a render at
// 50 ticks/s touches only what changed.

export const $ = (id) => document.getElementById(id);

export function setText(el, value) {
  const s = String(value);
  if (el.__text !== s) {
    el.__text = s;
    el.textContent = s;
  }
}

// `value` null or false removes the attribute, true sets it empty.
export function setAttr(el, name, value) {
  const key = "__attr_" + name;
  if (el[key] !== value) {
    el[key] = value;
    if (value === null || value === false) el.removeAttribute(name);
    else el.setAttribute(name, value === true ? "" : value);
  }
}

export function setHidden(el, hidden) {
  if (el.__hidden !== hidden) {
    el.__hidden = hidden;
    el.hidden = hidden;
  }
}

export function slug(name) {
  return String(name)
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
}

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

// `fn` runs at most once per `ms`; a call inside the interval is deferred to its end (so the
// last call always runs). For text alternatives that follow data changing every tick.
export function throttle(fn, ms) {
  let last = -Infinity;
  let timer = null;
  return () => {
    const now = performance.now();
    if (now - last >= ms) {
      last = now;
      fn();
    } else if (timer === null) {
      timer = setTimeout(() => {
        timer = null;
        last = performance.now();
        fn();
      }, ms - (now - last));
    }
  };
}
