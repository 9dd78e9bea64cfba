// DOM helpers: elements, icons, and the Markdown tree (markdown.js) turned into nodes.

export function h(tag, cls, attrs) {
  const n = document.createElement(tag);
  if (cls) n.className = cls;
  if (attrs) for (const k of Object.keys(attrs)) n.setAttribute(k, attrs[k]);
  return n;
}

const SVGNS = 'http://www.w3.org/2000/svg';
const ICONS = {
  chat: ['M21 11.5a8.4 8.4 0 0 1-12.2 7.5L3 21l2-5.6A8.5 8.5 0 1 1 21 11.5Z'],
  close: ['M18 6 6 18', 'M6 6l12 12'],
  compose: ['M12 3H5a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2v-7', 'M18.4 2.6a2.1 2.1 0 1 1 3 3L12 15l-4 1 1-4Z'],
  send: ['M22 2 11 13', 'M22 2 15 22l-4-9-9-4Z'],
  alert: ['M12 9v4', 'M12 17h.01', 'M10.3 3.9 1.8 18a2 2 0 0 0 1.7 3h17a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0Z'],
};

export function icon(name, size) {
  const s = document.createElementNS(SVGNS, 'svg');
  const set = (k, v) => s.setAttribute(k, String(v));
  set('viewBox', '0 0 24 24');
  set('width', size || 20);
  set('height', size || 20);
  set('fill', 'none');
  set('stroke', 'currentColor');
  set('stroke-width', 2);
  set('stroke-linecap', 'round');
  set('stroke-linejoin', 'round');
  set('aria-hidden', 'true');
  set('focusable', 'false');
  for (const d of ICONS[name]) {
    const p = document.createElementNS(SVGNS, 'path');
    p.setAttribute('d', d);
    s.appendChild(p);
  }
  return s;
}

// Only what markdown.js produces gets through: a second line of defence for untrusted text.
const TREE_TAGS = new Set(['p', 'strong', 'em', 'code', 'pre', 'a', 'ul', 'ol', 'li', 'blockquote', 'hr', 'br']);
const TREE_ATTRS = { a: ['href', 'target', 'rel'], ol: ['start'], code: ['data-lang'] };

export function appendTree(parent, nodes) {
  for (const n of nodes) {
    if (typeof n === 'string') {
      if (n) parent.appendChild(document.createTextNode(n));
      continue;
    }
    if (!TREE_TAGS.has(n.tag)) continue;
    const node = h(n.tag, n.cls);
    const allowed = TREE_ATTRS[n.tag] || [];
    if (n.attrs) for (const k of allowed) if (k in n.attrs) node.setAttribute(k, n.attrs[k]);
    appendTree(node, n.children);
    parent.appendChild(node);
  }
  return parent;
}

function pad2(n) {
  return String(n).padStart(2, '0');
}

// Local HH:MM of an ISO timestamp ('' if there is none).
export function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (isNaN(d.getTime())) return '';
  return pad2(d.getHours()) + ':' + pad2(d.getMinutes());
}
