// The safe Markdown subset of replies (model output is untrusted), parsed into a small tree
// of plain objects that view/dom.js turns into DOM nodes. Never HTML strings: raw HTML stays
// text, only http(s)/mailto links become links, images become links (never loaded).
//
//   parseMarkdown(src, { imageLabel }) -> [node, ...]
//   node = 'text' | { tag, cls, attrs, children: [node, ...] }
//
// tags: p, strong, em, code, pre, a, ul, ol, li, blockquote, hr, br; attrs: a.href/target/rel,
// ol.start, code.data-lang. Every scan is bounded so adversarial input stays linear.

const SAFE_SCHEMES = ['http:', 'https:', 'mailto:'];
export const LINK_REL = 'noopener noreferrer nofollow';

export function el(tag, cls, attrs) {
  return { tag, cls: cls || null, attrs: attrs || null, children: [] };
}

function add(parent, node) {
  parent.children.push(node);
  return node;
}

export function safeUrl(raw) {
  if (!raw) return null;
  let u;
  try {
    u = new URL(String(raw).trim()); // absolute URLs only: no base on purpose
  } catch (_) {
    return null;
  }
  return SAFE_SCHEMES.includes(u.protocol) ? u.href : null;
}

function makeLink(href, cls) {
  return el('a', cls || null, { href, target: '_blank', rel: LINK_REL });
}

// [label](dest "title") starting at text[i] === '['. Returns null if it is not a link.
function parseLink(text, i) {
  let depth = 0;
  let j = i;
  const labelEnd = Math.min(text.length, i + 1000); // bounded scans: no quadratic blow-up
  for (; j < labelEnd; j++) {
    const c = text[j];
    if (c === '\\') {
      j++;
      continue;
    }
    if (c === '[') depth++;
    else if (c === ']' && --depth === 0) break;
  }
  if (j >= labelEnd || text[j + 1] !== '(') return null;
  const label = text.slice(i + 1, j);
  let k = j + 2;
  depth = 1;
  const destEnd = Math.min(text.length, k + 2048);
  for (; k < destEnd; k++) {
    const c = text[k];
    if (c === '\\') {
      k++;
      continue;
    }
    if (c === '(') depth++;
    else if (c === ')' && --depth === 0) break;
  }
  if (k >= destEnd) return null;
  let dest = text.slice(j + 2, k).trim();
  const titled = /^(\S+)\s+("[^"]*"|'[^']*'|\([^)]*\))$/.exec(dest);
  if (titled) dest = titled[1];
  if (dest.startsWith('<') && dest.endsWith('>')) dest = dest.slice(1, -1);
  return { label, dest, end: k + 1 };
}

const WORD = /[\p{L}\p{N}]/u;

// Closing delimiter for *em*, **strong**, _em_, __strong__ (single line, no nesting guarantees).
function findClose(text, from, delim) {
  const ch = delim[0];
  for (let j = from + 1; j < text.length; j++) {
    const c = text[j];
    if (c === '\\') {
      j++;
      continue;
    }
    if (c === '`') {
      const end = text.indexOf('`', j + 1);
      if (end !== -1) j = end;
      continue;
    }
    if (!text.startsWith(delim, j) || /\s/.test(text[j - 1])) continue;
    if (delim.length === 1 && text[j + 1] === ch) {
      j++; // part of a double delimiter
      continue;
    }
    if (ch === '_' && WORD.test(text[j + delim.length] || '')) continue;
    return j;
  }
  return -1;
}

// A bare URL's trailing punctuation belongs to the sentence, balanced parentheses to the URL.
function trimUrl(url) {
  while (/[.,;:!?'"*_~\])}>]$/.test(url)) {
    const last = url[url.length - 1];
    if (last === ')') {
      const opens = url.split('(').length - 1;
      const closes = url.split(')').length - 1;
      if (opens >= closes) break;
    }
    url = url.slice(0, -1);
  }
  return url;
}

function appendInline(parent, text, depth, inLink, opts) {
  // A delimiter with no closer after position i has none after any later position either:
  // remember the misses so adversarial input (many unmatched `*` or backticks) stays linear.
  const noClose = Object.create(null);
  let buf = '';
  const flush = () => {
    if (buf) add(parent, buf);
    buf = '';
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '\\' && i + 1 < text.length && /[\\`*_[\]()#+\-.!~>|<{}]/.test(text[i + 1])) {
      buf += text[i + 1];
      i += 2;
      continue;
    }
    if (c === '`') {
      let n = 1;
      while (text[i + n] === '`') n++;
      const ticks = '`'.repeat(n);
      const end = noClose[ticks] ? -1 : text.indexOf(ticks, i + n);
      if (end === -1) noClose[ticks] = true;
      if (end !== -1) {
        flush();
        let inner = text.slice(i + n, end);
        if (/^ .* $/.test(inner) && inner.trim()) inner = inner.slice(1, -1);
        add(parent, el('code', 'cd-code')).children.push(inner);
        i = end + n;
        continue;
      }
      buf += ticks;
      i += n;
      continue;
    }
    if (c === '!' && text[i + 1] === '[') {
      const link = parseLink(text, i + 1);
      if (link) {
        // Images are never loaded: an http(s) image becomes a plain link, anything else text.
        flush();
        const label = link.label.trim() || opts.imageLabel;
        const href = inLink ? null : safeUrl(link.dest);
        if (href && /^https?:/.test(href)) {
          add(parent, makeLink(href, 'cd-img-link')).children.push(label);
        } else {
          add(parent, label);
        }
        i = link.end;
        continue;
      }
    }
    if (c === '[') {
      const link = parseLink(text, i);
      if (link) {
        flush();
        const href = inLink ? null : safeUrl(link.dest);
        const label = link.label.trim() ? link.label : link.dest;
        if (href) {
          const a = makeLink(href);
          appendInline(a, label, depth + 1, true, opts);
          add(parent, a);
        } else {
          appendInline(parent, label, depth + 1, inLink, opts); // unsafe scheme: text only
        }
        i = link.end;
        continue;
      }
    }
    if ((c === '*' || c === '_') && depth < 8) {
      const delim = text[i + 1] === c ? c + c : c;
      const next = text[i + delim.length];
      const prev = i > 0 ? text[i - 1] : '';
      if (next && !/\s/.test(next) && !(c === '_' && WORD.test(prev)) && !noClose[delim]) {
        const close = findClose(text, i + delim.length - 1, delim);
        if (close === -1) noClose[delim] = true;
        if (close !== -1) {
          flush();
          const node = el(delim.length === 2 ? 'strong' : 'em');
          appendInline(node, text.slice(i + delim.length, close), depth + 1, inLink, opts);
          add(parent, node);
          i = close + delim.length;
          continue;
        }
      }
      buf += delim;
      i += delim.length;
      continue;
    }
    if (
      !inLink &&
      (c === 'h' || c === 'H') &&
      (i === 0 || !WORD.test(text[i - 1])) &&
      /^https?:\/\//i.test(text.slice(i, i + 8))
    ) {
      const m = /^https?:\/\/[^\s<>"'`]+/i.exec(text.slice(i));
      const url = m ? trimUrl(m[0]) : '';
      const href = url.length > 8 ? safeUrl(url) : null;
      if (href) {
        flush();
        add(parent, makeLink(href)).children.push(url);
        i += url.length;
        continue;
      }
    }
    buf += c;
    i++;
  }
  flush();
}

const RE_FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const RE_HR = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const RE_HEADING = /^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/;
const RE_UL = /^ {0,3}[-*+]\s+(.*)$/;
const RE_OL = /^ {0,3}(\d{1,9})[.)]\s+(.*)$/;
const RE_QUOTE = /^ {0,3}>\s?(.*)$/;

export function parseMarkdown(src, opts) {
  opts = Object.assign({ imageLabel: 'Image' }, opts);
  const root = el('#fragment');
  const lines = String(src || '').replace(/\r\n?/g, '\n').split('\n');
  let para = null;
  let list = null;
  let lastLi = null;
  let quote = null;
  let blankInList = false;
  const endList = () => {
    list = null;
    lastLi = null;
    blankInList = false;
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = RE_FENCE.exec(line);
    if (fence) {
      para = null;
      quote = null;
      endList();
      const marker = fence[1];
      const closing = new RegExp('^ {0,3}' + (marker[0] === '`' ? '`' : '~') + '{' + marker.length + ',}\\s*$');
      const code = [];
      i++;
      while (i < lines.length && !closing.test(lines[i])) code.push(lines[i++]);
      const pre = add(root, el('pre', 'cd-pre'));
      const codeEl = add(pre, el('code', null, fence[2] ? { 'data-lang': fence[2].slice(0, 32) } : null));
      codeEl.children.push(code.join('\n'));
      continue;
    }
    if (!line.trim()) {
      para = null;
      quote = null;
      if (list) blankInList = true;
      continue;
    }
    if (RE_HR.test(line)) {
      para = null;
      quote = null;
      endList();
      add(root, el('hr', 'cd-hr'));
      continue;
    }
    const heading = RE_HEADING.exec(line);
    if (heading) {
      para = null;
      quote = null;
      endList();
      const p = add(root, el('p', 'cd-h'));
      appendInline(add(p, el('strong')), heading[2], 0, false, opts);
      continue;
    }
    const ul = RE_UL.exec(line);
    const ol = ul ? null : RE_OL.exec(line);
    if (ul || ol) {
      para = null;
      quote = null;
      const tag = ul ? 'ul' : 'ol';
      if (!list || list.tag !== tag) {
        list = add(root, el(tag, 'cd-list', ol && ol[1] !== '1' ? { start: String(parseInt(ol[1], 10)) } : null));
      }
      blankInList = false;
      lastLi = add(list, el('li'));
      appendInline(lastLi, ul ? ul[1] : ol[2], 0, false, opts);
      continue;
    }
    if (list && lastLi && /^\s{2,}\S/.test(line)) {
      // indented continuation of the previous list item
      add(lastLi, el('br'));
      appendInline(lastLi, line.trim(), 0, false, opts);
      blankInList = false;
      continue;
    }
    if (list && !blankInList && !RE_QUOTE.test(line)) {
      // lazy continuation line
      add(lastLi, el('br'));
      appendInline(lastLi, line.trim(), 0, false, opts);
      continue;
    }
    endList();
    const q = RE_QUOTE.exec(line);
    if (q) {
      para = null;
      if (!quote) quote = add(root, el('blockquote', 'cd-quote'));
      else add(quote, el('br'));
      appendInline(quote, q[1], 0, false, opts);
      continue;
    }
    quote = null;
    if (!para) para = add(root, el('p'));
    else add(para, el('br'));
    appendInline(para, line, 0, false, opts);
  }
  return root.children;
}

// The plain text of a tree, one line per block (what a screen reader announces).
const BLOCKS = new Set(['p', 'pre', 'ul', 'ol', 'li', 'blockquote', 'hr']);

function rawText(nodes) {
  let out = '';
  for (const n of nodes) {
    if (typeof n === 'string') out += n;
    else if (n.tag === 'br') out += '\n';
    else if (BLOCKS.has(n.tag)) out += '\n' + rawText(n.children) + '\n';
    else out += rawText(n.children);
  }
  return out;
}

export function textOf(nodes) {
  return rawText(nodes).replace(/\n{2,}/g, '\n').trim();
}
