/*!
 * Chatdesk embeddable chat widget. Vanilla ES2020, no dependencies, no build step.
 *
 *   <script src="https://HOST/static/chatdesk/widget.js" data-widget-key="wk_..." async></script>
 *
 * Optional attributes: data-lang="en|zh-Hans", data-api-base, data-user-id + data-user-hash,
 * data-title, data-open="true". Host-page API: window.Chatdesk.open() / close() / newConversation().
 *
 * Everything is rendered inside a Shadow DOM. Message text (model output is untrusted) is only
 * ever written through textContent / createTextNode; links are rebuilt from parsed URLs with an
 * http/https/mailto allow-list; images are never loaded.
 */
(() => {
  'use strict';

  if (window.__chatdeskWidgetLoaded) return;

  const current = document.currentScript;
  const SCRIPT =
    current && current.hasAttribute && current.hasAttribute('data-widget-key')
      ? current
      : document.querySelector('script[data-widget-key]');
  if (!SCRIPT) {
    console.warn('[chatdesk] widget.js needs a data-widget-key attribute on its <script> tag');
    return;
  }
  const WIDGET_KEY = (SCRIPT.getAttribute('data-widget-key') || '').trim();
  if (!WIDGET_KEY) {
    console.warn('[chatdesk] data-widget-key is empty');
    return;
  }
  window.__chatdeskWidgetLoaded = true;

  // ------------------------------------------------------------------ configuration

  const attr = (name) => {
    const v = SCRIPT.getAttribute('data-' + name);
    return v == null ? '' : String(v).trim();
  };

  const STRINGS = {
    en: {
      title: 'Chat with us',
      subtitle: 'Typically replies in seconds',
      open: 'Open chat',
      close: 'Close chat',
      newConversation: 'New conversation',
      placeholder: 'Type your message…',
      inputLabel: 'Message',
      send: 'Send',
      retry: 'Retry',
      typing: 'Assistant is typing…',
      unavailable: 'The assistant is unavailable right now. Please try again later.',
      notSent: 'Not sent.',
      rateLimited: 'You are sending messages too quickly. Please wait a moment.',
      tooLong: 'This message is too long.',
      invalid: 'This message could not be sent.',
      failedReply: 'Reply failed',
      failedReplyFallback: 'Sorry, something went wrong. Please try again.',
      empty: 'Hi there! How can we help you today?',
      log: 'Conversation',
      you: 'You',
      assistant: 'Assistant',
      staff: 'Support agent',
      system: 'System',
      image: 'Image',
      poweredBy: 'Powered by Chatdesk',
    },
    'zh-Hans': {
      title: '在线客服',
      subtitle: '通常几秒内回复',
      open: '打开在线客服',
      close: '关闭',
      newConversation: '新对话',
      placeholder: '请输入消息…',
      inputLabel: '消息',
      send: '发送',
      retry: '重试',
      typing: '助手正在输入…',
      unavailable: '助手暂时无法使用，请稍后再试。',
      notSent: '发送失败。',
      rateLimited: '发送太频繁，请稍候再试。',
      tooLong: '消息过长。',
      invalid: '该消息无法发送。',
      failedReply: '回复失败',
      failedReplyFallback: '抱歉，出现了问题，请稍后重试。',
      empty: '您好！有什么可以帮您？',
      log: '对话记录',
      you: '我',
      assistant: '智能助手',
      staff: '人工客服',
      system: '系统',
      image: '图片',
      poweredBy: '由 Chatdesk 提供支持',
    },
  };

  function normLang(value) {
    const l = String(value || '').toLowerCase();
    if (l.startsWith('zh')) return 'zh-Hans';
    if (l.startsWith('en')) return 'en';
    return null;
  }

  function pickLang(explicit) {
    if (explicit) return normLang(explicit) || 'en';
    const langs =
      navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
    for (const l of langs) {
      const n = normLang(l);
      if (n) return n;
    }
    return 'en';
  }

  function resolveApiBase(explicit, src) {
    try {
      if (explicit) {
        const u = new URL(explicit, location.href);
        return (u.origin + u.pathname).replace(/\/+$/, '');
      }
      return new URL(src, location.href).origin;
    } catch (_) {
      return location.origin;
    }
  }

  const LANG = pickLang(attr('lang'));
  const T = STRINGS[LANG];
  const TITLE = attr('title') || T.title;
  const API = resolveApiBase(attr('api-base'), SCRIPT.src) + '/api/v1';
  const USER_ID = attr('user-id');
  const USER_HASH = attr('user-hash');
  const START_OPEN = attr('open') === 'true';

  const RANK = { pending: 0, streaming: 1, completed: 2, failed: 2 };
  const rank = (status) => (status in RANK ? RANK[status] : 2);
  const ROLES = new Set(['user', 'assistant', 'staff', 'system']);

  // ------------------------------------------------------------------ storage

  const NS = 'chatdesk:' + WIDGET_KEY + ':';
  const store = {
    get(k) {
      try {
        return window.localStorage.getItem(NS + k);
      } catch (_) {
        return null;
      }
    },
    set(k, v) {
      try {
        window.localStorage.setItem(NS + k, v);
      } catch (_) {
        /* storage disabled: the widget still works for this page view */
      }
    },
    del(k) {
      try {
        window.localStorage.removeItem(NS + k);
      } catch (_) {
        /* ignore */
      }
    },
  };

  // A token issued for one identified user must not be reused for another (or for an
  // anonymous visitor after logout): bind the stored session to data-user-id.
  if ((store.get('user') || '') !== USER_ID) {
    store.del('token');
    store.del('conversation');
    if (USER_ID) store.set('user', USER_ID);
    else store.del('user');
  }

  let token = store.get('token');
  let conversationId = store.get('conversation');
  let identified = false; // set from the session: a verified customer of the host site

  function uuid4() {
    if (window.crypto && typeof crypto.randomUUID === 'function') {
      try {
        return crypto.randomUUID();
      } catch (_) {
        /* insecure context: fall through */
      }
    }
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  // ------------------------------------------------------------------ API client

  class ApiError extends Error {
    constructor(status, code, message, extra) {
      super(message || code);
      this.status = status; // 0 = network error / unreadable response
      this.code = code;
      Object.assign(this, extra || {});
    }
  }

  const enc = encodeURIComponent;
  const REQUEST_TIMEOUT_MS = 20000;
  let sessionPromise = null;

  function dropToken() {
    token = null;
    store.del('token');
  }

  async function request(method, path, body, opts) {
    opts = opts || {};
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let sentToken = null;
    if (!opts.noAuth) {
      sentToken = await ensureSession();
      headers.Authorization = 'Bearer ' + sentToken;
    }
    let res;
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), REQUEST_TIMEOUT_MS);
    try {
      res = await fetch(API + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        mode: 'cors',
        credentials: 'omit',
        cache: 'no-store',
        signal: ctrl.signal,
      });
    } catch (e) {
      throw new ApiError(0, ctrl.signal.aborted ? 'timeout' : 'network_error', String((e && e.message) || e));
    } finally {
      clearTimeout(timer);
    }
    if (res.status === 401 && !opts.noAuth && !opts.authRetried) {
      // The session expired or was revoked: start a new one, once.
      if (token === sentToken) dropToken();
      return request(method, path, body, Object.assign({}, opts, { authRetried: true }));
    }
    let data = null;
    try {
      const text = await res.text();
      data = text ? JSON.parse(text) : null;
    } catch (_) {
      data = null;
    }
    if (!res.ok) {
      const err = (data && data.error) || {};
      throw new ApiError(res.status, err.code || 'http_' + res.status, err.message || '', {
        fields: err.fields || null,
        retryAfter: parseInt(res.headers.get('Retry-After') || '', 10) || 0,
      });
    }
    markAvailable();
    return data;
  }

  function ensureSession() {
    if (token) return Promise.resolve(token);
    if (!sessionPromise) {
      sessionPromise = createSession().finally(() => {
        sessionPromise = null;
      });
    }
    return sessionPromise;
  }

  async function createSession() {
    const body = { widget_key: WIDGET_KEY };
    if (USER_ID) {
      body.user_id = USER_ID;
      if (USER_HASH) body.user_hash = USER_HASH;
    }
    let data;
    try {
      data = await request('POST', '/widget/sessions/', body, { noAuth: true });
    } catch (e) {
      e.session = true;
      setUnavailable(true);
      throw e;
    }
    if (!data || typeof data.token !== 'string' || !data.token) {
      setUnavailable(true);
      throw new ApiError(0, 'bad_session_response', '', { session: true });
    }
    token = data.token;
    store.set('token', token);
    identified = !!(data.customer && data.customer.identified);
    return token;
  }

  // A verified customer on a new device picks up their most recent open conversation.
  async function adoptLatestConversation() {
    if (conversationId || !identified) return;
    const gen = convGen;
    const data = await request('GET', '/conversations/?limit=1');
    const latest = data && data.results && data.results[0];
    if (latest && latest.status === 'open' && gen === convGen && !conversationId) {
      setConversation(latest.id);
    }
  }

  // ------------------------------------------------------------------ state

  let convGen = 0; // bumped by "new conversation": results of older operations are dropped
  let convPromise = null;
  let items = []; // rendered messages, in display order
  const byId = new Map();
  let sending = false;
  let inflight = 0;
  let sendChain = Promise.resolve();
  let started = false;
  let restoring = false;
  let isOpen = false;
  let mounted = false;
  let pendingOpen = START_OPEN;
  let unavailable = false;
  let stream = null;
  let polling = false;
  let stick = true; // keep the log scrolled to the bottom

  function setConversation(id) {
    conversationId = String(id);
    store.set('conversation', conversationId);
  }

  function forgetConversation() {
    closeStream();
    orphans.clear();
    conversationId = null;
    store.del('conversation');
  }

  function ensureConversation(gen) {
    if (conversationId) return Promise.resolve(conversationId);
    if (!convPromise) {
      convPromise = request('POST', '/conversations/', {})
        .then((conv) => {
          if (!conv || conv.id == null) throw new ApiError(0, 'bad_conversation_response', '');
          if (gen === convGen) setConversation(conv.id);
          return String(conv.id);
        })
        .finally(() => {
          convPromise = null;
        });
    }
    return convPromise;
  }

  function setUnavailable(flag) {
    unavailable = !!flag;
    if (ui.banner) ui.banner.hidden = !unavailable;
  }

  function markAvailable() {
    if (unavailable) setUnavailable(false);
  }

  const isAvailabilityError = (e) => !!e && (e.session || e.status === 0 || e.status >= 500);

  function backgroundError(e) {
    if (isAvailabilityError(e)) setUnavailable(true);
    else console.warn('[chatdesk]', e);
  }

  // ------------------------------------------------------------------ DOM helpers

  function h(tag, cls, attrs) {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (attrs) for (const k of Object.keys(attrs)) n.setAttribute(k, attrs[k]);
    return n;
  }

  const SVGNS = 'http://www.w3.org/2000/svg';
  const ICONS = {
    chat: ['M21 11.5a8.4 8.4 0 0 1-12.2 7.5L3 21l2-5.6A8.5 8.5 0 1 1 21 11.5Z'],
    close: ['M18 6 6 18', 'M6 6l12 12'],
    compose: [
      'M12 3H5a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2v-7',
      'M18.4 2.6a2.1 2.1 0 1 1 3 3L12 15l-4 1 1-4Z',
    ],
    send: ['M22 2 11 13', 'M22 2 15 22l-4-9-9-4Z'],
    alert: ['M12 9v4', 'M12 17h.01', 'M10.3 3.9 1.8 18a2 2 0 0 0 1.7 3h17a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0Z'],
  };

  function icon(name, size) {
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

  function pad2(n) {
    return String(n).padStart(2, '0');
  }

  function fmtTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (isNaN(d.getTime())) return '';
    return pad2(d.getHours()) + ':' + pad2(d.getMinutes());
  }

  // ------------------------------------------------------------------ safe Markdown subset

  const SAFE_SCHEMES = ['http:', 'https:', 'mailto:'];

  function safeUrl(raw) {
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
    const a = h('a', cls || null);
    a.href = href;
    a.target = '_blank';
    a.rel = 'noopener noreferrer nofollow';
    return a;
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

  function appendInline(parent, text, depth, inLink) {
    // A delimiter with no closer after position i has none after any later position either:
    // remember the misses so adversarial input (many unmatched `*` or backticks) stays linear.
    const noClose = Object.create(null);
    let buf = '';
    const flush = () => {
      if (buf) parent.appendChild(document.createTextNode(buf));
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
          const code = h('code', 'cd-code');
          let inner = text.slice(i + n, end);
          if (/^ .* $/.test(inner) && inner.trim()) inner = inner.slice(1, -1);
          code.textContent = inner;
          parent.appendChild(code);
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
          const label = link.label.trim() || T.image;
          const href = inLink ? null : safeUrl(link.dest);
          if (href && /^https?:/.test(href)) {
            const a = makeLink(href, 'cd-img-link');
            a.textContent = label;
            parent.appendChild(a);
          } else {
            parent.appendChild(document.createTextNode(label));
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
            appendInline(a, label, depth + 1, true);
            parent.appendChild(a);
          } else {
            appendInline(parent, label, depth + 1, inLink); // unsafe scheme: text only
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
            const node = h(delim.length === 2 ? 'strong' : 'em');
            appendInline(node, text.slice(i + delim.length, close), depth + 1, inLink);
            parent.appendChild(node);
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
          const a = makeLink(href);
          a.textContent = url;
          parent.appendChild(a);
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

  function renderMarkdown(src) {
    const frag = document.createDocumentFragment();
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
        const pre = h('pre', 'cd-pre');
        const el = h('code');
        if (fence[2]) el.setAttribute('data-lang', fence[2].slice(0, 32));
        el.textContent = code.join('\n');
        pre.appendChild(el);
        frag.appendChild(pre);
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
        frag.appendChild(h('hr', 'cd-hr'));
        continue;
      }
      const heading = RE_HEADING.exec(line);
      if (heading) {
        para = null;
        quote = null;
        endList();
        const p = h('p', 'cd-h');
        const strong = h('strong');
        appendInline(strong, heading[2], 0, false);
        p.appendChild(strong);
        frag.appendChild(p);
        continue;
      }
      const ul = RE_UL.exec(line);
      const ol = ul ? null : RE_OL.exec(line);
      if (ul || ol) {
        para = null;
        quote = null;
        const tag = ul ? 'ul' : 'ol';
        if (!list || list.tagName.toLowerCase() !== tag) {
          list = h(tag, 'cd-list');
          if (ol && ol[1] !== '1') list.setAttribute('start', String(parseInt(ol[1], 10)));
          frag.appendChild(list);
        }
        blankInList = false;
        lastLi = h('li');
        appendInline(lastLi, ul ? ul[1] : ol[2], 0, false);
        list.appendChild(lastLi);
        continue;
      }
      if (list && lastLi && /^\s{2,}\S/.test(line)) {
        // indented continuation of the previous list item
        lastLi.appendChild(h('br'));
        appendInline(lastLi, line.trim(), 0, false);
        blankInList = false;
        continue;
      }
      if (list && !blankInList && !RE_QUOTE.test(line)) {
        // lazy continuation line
        lastLi.appendChild(h('br'));
        appendInline(lastLi, line.trim(), 0, false);
        continue;
      }
      endList();
      const q = RE_QUOTE.exec(line);
      if (q) {
        para = null;
        if (!quote) {
          quote = h('blockquote', 'cd-quote');
          frag.appendChild(quote);
        } else {
          quote.appendChild(h('br'));
        }
        appendInline(quote, q[1], 0, false);
        continue;
      }
      quote = null;
      if (!para) {
        para = h('p');
        frag.appendChild(para);
      } else {
        para.appendChild(h('br'));
      }
      appendInline(para, line, 0, false);
    }
    return frag;
  }

  // ------------------------------------------------------------------ styles

  const CSS = `
:host { all: initial !important; }
.cd, .cd *, .cd *::before, .cd *::after { box-sizing: border-box; }
.cd {
  --cd-bg: #ffffff;
  --cd-fg: #18181b;
  --cd-muted: #6b6b76;
  --cd-border: #e4e4e7;
  --cd-surface: #f4f4f5;
  --cd-accent: #18181b;
  --cd-accent-fg: #ffffff;
  --cd-link: #1d4ed8;
  --cd-focus: #2563eb;
  --cd-danger: #b91c1c;
  --cd-danger-bg: #fef2f2;
  --cd-danger-border: #fecaca;
  --cd-radius: 12px;
  font-family: ui-sans-serif, system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Noto Sans", "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif;
  font-size: 14px;
  font-weight: 400;
  font-style: normal;
  line-height: 1.5;
  color: var(--cd-fg);
  text-align: left;
  text-transform: none;
  letter-spacing: normal;
  word-spacing: normal;
  direction: ltr;
  -webkit-font-smoothing: antialiased;
  -moz-osx-font-smoothing: grayscale;
}
.cd :where(button, textarea) { font: inherit; color: inherit; margin: 0; }
.cd :where(button) { cursor: pointer; }
.cd :focus { outline: none; }
.cd :focus-visible { outline: 2px solid var(--cd-focus); outline-offset: 2px; }
.cd [hidden] { display: none !important; }
.cd-sr {
  position: absolute !important; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}

.cd-launcher {
  position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;
  width: 56px; height: 56px; padding: 0; border: 0; border-radius: 50%;
  display: flex; align-items: center; justify-content: center;
  background: var(--cd-accent); color: var(--cd-accent-fg);
  box-shadow: 0 6px 20px rgba(0, 0, 0, 0.18), 0 2px 6px rgba(0, 0, 0, 0.12);
  transition: transform 0.15s ease, box-shadow 0.15s ease;
}
.cd-launcher:hover { transform: translateY(-1px) scale(1.04); box-shadow: 0 10px 28px rgba(0, 0, 0, 0.22), 0 2px 6px rgba(0, 0, 0, 0.12); }
.cd-launcher .cd-ico-close { display: none; }
.cd-open .cd-launcher .cd-ico-chat { display: none; }
.cd-open .cd-launcher .cd-ico-close { display: block; }
.cd-unread {
  position: absolute; top: 2px; right: 2px; width: 12px; height: 12px; border-radius: 50%;
  background: #ef4444; border: 2px solid #fff;
}

.cd-panel {
  position: fixed; right: 20px; bottom: 88px; z-index: 2147483001;
  width: 380px; height: min(640px, calc(100vh - 108px)); min-height: 320px;
  display: flex; flex-direction: column; overflow: hidden;
  background: var(--cd-bg); color: var(--cd-fg);
  border: 1px solid rgba(0, 0, 0, 0.06); border-radius: var(--cd-radius);
  box-shadow: 0 16px 40px rgba(0, 0, 0, 0.12), 0 4px 12px rgba(0, 0, 0, 0.06);
  opacity: 0; visibility: hidden; transform: translateY(12px) scale(0.98); transform-origin: bottom right;
  transition: opacity 0.18s ease, transform 0.18s ease, visibility 0s linear 0.18s;
}
.cd-open .cd-panel { opacity: 1; visibility: visible; transform: none; transition-delay: 0s; }

.cd-header {
  display: flex; align-items: center; gap: 10px; padding: 14px 12px 14px 16px;
  border-bottom: 1px solid var(--cd-border); background: var(--cd-bg); flex: none;
}
.cd-avatar {
  width: 34px; height: 34px; border-radius: 50%; flex: none;
  display: flex; align-items: center; justify-content: center;
  background: var(--cd-accent); color: var(--cd-accent-fg);
}
.cd-heading { flex: 1; min-width: 0; }
.cd-title {
  margin: 0; font-size: 15px; font-weight: 600; line-height: 1.3; color: var(--cd-fg);
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
}
.cd-subtitle { margin: 1px 0 0; font-size: 12px; line-height: 1.3; color: var(--cd-muted); display: flex; align-items: center; gap: 6px; }
.cd-subtitle::before { content: ""; width: 7px; height: 7px; border-radius: 50%; background: #22c55e; flex: none; }
.cd-icon-btn {
  width: 34px; height: 34px; padding: 0; border: 0; border-radius: 8px; flex: none;
  display: flex; align-items: center; justify-content: center;
  background: transparent; color: var(--cd-muted);
}
.cd-icon-btn:hover { background: var(--cd-surface); color: var(--cd-fg); }

.cd-banner {
  display: flex; gap: 8px; align-items: flex-start; margin: 12px 16px 0; padding: 10px 12px;
  border-radius: 8px; background: #fffbeb; border: 1px solid #fde68a; color: #78350f;
  font-size: 13px; line-height: 1.4; flex: none;
}
.cd-banner svg { flex: none; margin-top: 1px; }

.cd-log {
  flex: 1; min-height: 0; overflow-y: auto; overscroll-behavior: contain;
  padding: 16px; display: flex; flex-direction: column; gap: 12px; background: var(--cd-bg);
}
.cd-empty { margin: auto; max-width: 240px; text-align: center; color: var(--cd-muted); font-size: 14px; }

.cd-msg { display: flex; flex-direction: column; max-width: 85%; align-items: flex-start; }
.cd-msg--user { align-self: flex-end; align-items: flex-end; }
.cd-msg--system { align-self: center; align-items: center; max-width: 100%; }
.cd-bubble {
  padding: 9px 13px; border-radius: 12px; background: var(--cd-surface); color: var(--cd-fg);
  overflow-wrap: anywhere; word-break: break-word; max-width: 100%;
}
.cd-msg--assistant .cd-bubble, .cd-msg--staff .cd-bubble { border-bottom-left-radius: 4px; }
.cd-msg--staff .cd-bubble { background: #eef2ff; color: #1e1b4b; }
.cd-msg--user .cd-bubble { background: var(--cd-accent); color: var(--cd-accent-fg); border-bottom-right-radius: 4px; }
.cd-msg--user .cd-body { white-space: pre-wrap; }
.cd-msg--system .cd-bubble { background: transparent; color: var(--cd-muted); font-size: 12px; padding: 2px 8px; text-align: center; }
.cd-msg--error .cd-bubble { background: var(--cd-danger-bg); color: #7f1d1d; border: 1px solid var(--cd-danger-border); }
.cd-msg--unsent .cd-bubble { opacity: 0.7; }

.cd-meta {
  display: flex; align-items: center; gap: 6px; flex-wrap: wrap; margin-top: 4px; padding: 0 4px;
  font-size: 11px; line-height: 1.4; color: var(--cd-muted);
}
.cd-sender { font-weight: 600; }
.cd-fail-label, .cd-note { color: var(--cd-danger); font-weight: 500; }
.cd-retry {
  padding: 1px 8px; border: 1px solid var(--cd-danger-border); border-radius: 999px;
  background: #fff; color: var(--cd-danger); font-size: 11px; font-weight: 600; line-height: 1.5;
}
.cd-retry:hover { background: var(--cd-danger-bg); }
.cd-retry:disabled { opacity: 0.5; cursor: default; }

.cd-body > :first-child { margin-top: 0; }
.cd-body > :last-child { margin-bottom: 0; }
.cd-body p { margin: 0 0 8px; }
.cd-body .cd-h { margin: 10px 0 4px; }
.cd-body .cd-list { margin: 4px 0 8px; padding-left: 20px; }
.cd-body li { margin: 2px 0; }
.cd-body li::marker { color: var(--cd-muted); }
.cd-body a { color: var(--cd-link); text-decoration: underline; text-underline-offset: 2px; }
.cd-msg--user .cd-body a { color: inherit; }
.cd-body strong { font-weight: 600; }
.cd-body em { font-style: italic; }
.cd-code, .cd-pre {
  font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  font-size: 12.5px;
}
.cd-code { padding: 1px 5px; border-radius: 4px; background: rgba(0, 0, 0, 0.07); }
.cd-msg--user .cd-code { background: rgba(255, 255, 255, 0.16); }
.cd-pre {
  margin: 6px 0 8px; padding: 10px 12px; border-radius: 8px; overflow-x: auto;
  background: #1f1f23; color: #f4f4f5; line-height: 1.45; white-space: pre;
}
.cd-pre code { font: inherit; }
.cd-quote { margin: 4px 0 8px; padding: 2px 0 2px 10px; border-left: 3px solid var(--cd-border); color: #3f3f46; }
.cd-hr { border: 0; border-top: 1px solid var(--cd-border); margin: 10px 0; }

.cd-typing { display: inline-flex; align-items: center; gap: 4px; height: 21px; }
.cd-dot { width: 6px; height: 6px; border-radius: 50%; background: #8e8e98; animation: cd-bounce 1.2s infinite ease-in-out; }
.cd-dot:nth-child(2) { animation-delay: 0.15s; }
.cd-dot:nth-child(3) { animation-delay: 0.3s; }
@keyframes cd-bounce { 0%, 70%, 100% { opacity: 0.35; transform: translateY(0); } 35% { opacity: 1; transform: translateY(-3px); } }
.cd-caret {
  display: inline-block; width: 7px; height: 14px; margin-left: 2px; vertical-align: -2px;
  border-radius: 1px; background: currentColor; opacity: 0.45; animation: cd-caret 1s steps(2, start) infinite;
}
@keyframes cd-caret { to { visibility: hidden; } }

.cd-composer {
  display: flex; align-items: flex-end; gap: 8px; padding: 12px 12px 8px; margin: 0;
  border-top: 1px solid var(--cd-border); background: var(--cd-bg); flex: none;
}
.cd-input {
  flex: 1; min-width: 0; display: block; resize: none; overflow-y: auto;
  min-height: 42px; max-height: 140px; padding: 10px 12px;
  border: 1px solid #d4d4d8; border-radius: 10px; background: #fff; color: var(--cd-fg);
  font-size: 14px; line-height: 20px; transition: border-color 0.15s ease, box-shadow 0.15s ease;
}
.cd-input::placeholder { color: #8a8a94; opacity: 1; }
.cd-input:focus, .cd-input:focus-visible { outline: none; border-color: var(--cd-focus); box-shadow: 0 0 0 3px rgba(37, 99, 235, 0.18); }
.cd-input:disabled { background: #fafafa; }
.cd-send {
  width: 42px; height: 42px; padding: 0; border: 0; border-radius: 10px; flex: none;
  display: flex; align-items: center; justify-content: center;
  background: var(--cd-accent); color: var(--cd-accent-fg); transition: opacity 0.15s ease;
}
.cd-send:disabled { opacity: 0.35; cursor: default; }
.cd-footer { padding: 0 12px 8px; text-align: center; font-size: 11px; color: var(--cd-muted); background: var(--cd-bg); flex: none; }

@media (max-width: 480px) {
  .cd-panel {
    top: 0; right: 0; bottom: 0; left: 0; width: auto; height: auto; min-height: 0;
    border: 0; border-radius: 0; box-shadow: none; transform: translateY(16px);
  }
  .cd-open .cd-launcher { display: none; }
  .cd-input { font-size: 16px; }
}
@media (prefers-reduced-motion: reduce) {
  .cd-panel, .cd-launcher { transition: none; }
  .cd-dot, .cd-caret { animation: none; }
}
`;

  // ------------------------------------------------------------------ UI

  const ui = {};

  function buildUi() {
    const host = document.createElement('div');
    host.id = 'chatdesk-widget';
    host.setAttribute('data-chatdesk', '');
    const shadow = host.attachShadow({ mode: 'open' });
    let styled = false;
    try {
      if ('adoptedStyleSheets' in shadow && typeof CSSStyleSheet === 'function') {
        const sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS);
        shadow.adoptedStyleSheets = [sheet];
        styled = true;
      }
    } catch (_) {
      styled = false;
    }
    if (!styled) {
      const style = document.createElement('style');
      style.textContent = CSS;
      shadow.appendChild(style);
    }

    const root = h('div', 'cd', { lang: LANG });

    const panel = h('div', 'cd-panel', {
      id: 'cd-panel',
      role: 'dialog',
      'aria-label': TITLE,
      'aria-modal': 'false',
      lang: LANG,
    });

    const header = h('div', 'cd-header');
    const avatar = h('div', 'cd-avatar');
    avatar.appendChild(icon('chat', 18));
    const heading = h('div', 'cd-heading');
    const title = h('h2', 'cd-title');
    title.textContent = TITLE;
    const subtitle = h('p', 'cd-subtitle');
    subtitle.textContent = T.subtitle;
    heading.append(title, subtitle);
    const newBtn = h('button', 'cd-icon-btn cd-new', {
      type: 'button',
      'aria-label': T.newConversation,
      title: T.newConversation,
    });
    newBtn.appendChild(icon('compose', 18));
    const closeBtn = h('button', 'cd-icon-btn cd-close', {
      type: 'button',
      'aria-label': T.close,
      title: T.close,
    });
    closeBtn.appendChild(icon('close', 20));
    header.append(avatar, heading, newBtn, closeBtn);

    const banner = h('div', 'cd-banner', { role: 'alert' });
    banner.appendChild(icon('alert', 16));
    const bannerText = h('span', 'cd-banner-text');
    bannerText.textContent = T.unavailable;
    banner.appendChild(bannerText);
    banner.hidden = !unavailable;

    const log = h('div', 'cd-log', {
      role: 'log',
      'aria-live': 'polite',
      'aria-label': T.log,
      tabindex: '0',
    });
    const empty = h('div', 'cd-empty');
    empty.textContent = T.empty;
    log.appendChild(empty);

    const form = h('form', 'cd-composer');
    form.setAttribute('novalidate', '');
    const input = h('textarea', 'cd-input', {
      rows: '1',
      placeholder: T.placeholder,
      'aria-label': T.inputLabel,
      autocomplete: 'off',
    });
    const sendBtn = h('button', 'cd-send', { type: 'submit', 'aria-label': T.send, title: T.send });
    sendBtn.appendChild(icon('send', 18));
    sendBtn.disabled = true;
    form.append(input, sendBtn);

    const footer = h('div', 'cd-footer');
    footer.textContent = T.poweredBy;

    panel.append(header, banner, log, form, footer);

    const launcher = h('button', 'cd-launcher', {
      type: 'button',
      'aria-label': T.open,
      'aria-expanded': 'false',
      'aria-controls': 'cd-panel',
      'aria-haspopup': 'dialog',
    });
    const chatIco = icon('chat', 26);
    chatIco.setAttribute('class', 'cd-ico-chat');
    const closeIco = icon('close', 24);
    closeIco.setAttribute('class', 'cd-ico-close');
    const unread = h('span', 'cd-unread');
    unread.hidden = true;
    launcher.append(chatIco, closeIco, unread);

    root.append(panel, launcher);
    shadow.appendChild(root);

    Object.assign(ui, { host, shadow, root, panel, banner, log, empty, input, sendBtn, launcher, unread, newBtn, closeBtn });

    launcher.addEventListener('click', () => (isOpen ? close() : open()));
    closeBtn.addEventListener('click', () => close());
    newBtn.addEventListener('click', () => newConversation());
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      submit();
    });
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        submit();
      }
    });
    input.addEventListener('input', () => {
      autosize();
      updateSendButton();
    });
    root.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && isOpen) {
        e.preventDefault();
        e.stopPropagation();
        close();
      }
    });
    log.addEventListener('scroll', () => {
      stick = log.scrollHeight - log.scrollTop - log.clientHeight < 48;
    });

    document.body.appendChild(host);
    mounted = true;
  }

  function autosize() {
    const ta = ui.input;
    ta.style.height = 'auto';
    ta.style.height = Math.min(ta.scrollHeight + 2, 140) + 'px';
  }

  function updateSendButton() {
    if (mounted) ui.sendBtn.disabled = sending || restoring || !ui.input.value.trim();
  }

  function setSending(flag) {
    sending = flag;
    if (!mounted) return;
    const hadFocus = ui.shadow.activeElement === ui.input;
    ui.input.disabled = flag;
    updateSendButton();
    if (!flag && isOpen && (hadFocus || refocusAfterSend)) {
      refocusAfterSend = false;
      ui.input.focus();
    } else if (flag && hadFocus) {
      refocusAfterSend = true;
    }
  }
  let refocusAfterSend = false;

  function open(focus) {
    if (!mounted) {
      pendingOpen = true;
      return;
    }
    if (isOpen) return;
    isOpen = true;
    ui.root.classList.add('cd-open');
    ui.launcher.setAttribute('aria-expanded', 'true');
    ui.launcher.setAttribute('aria-label', T.close);
    ui.unread.hidden = true;
    stick = true;
    scrollToBottom();
    if (focus !== false) {
      if (!ui.input.disabled) ui.input.focus();
      else refocusAfterSend = true;
    }
    if (!started) start();
    else if (conversationId && !stream && !restoring) openStream(conversationId);
  }

  function close() {
    if (!mounted) {
      pendingOpen = false;
      return;
    }
    if (!isOpen) return;
    const focusInside = ui.shadow.activeElement && ui.shadow.activeElement !== ui.launcher;
    isOpen = false;
    ui.root.classList.remove('cd-open');
    ui.launcher.setAttribute('aria-expanded', 'false');
    ui.launcher.setAttribute('aria-label', T.open);
    if (focusInside) ui.launcher.focus();
  }

  function newConversation() {
    convGen++;
    forgetConversation();
    for (const it of items) it.el.remove();
    items = [];
    byId.clear();
    dirty.clear();
    updateEmpty();
    if (mounted && isOpen && !ui.input.disabled) ui.input.focus();
  }

  function scrollToBottom() {
    if (ui.log) ui.log.scrollTop = ui.log.scrollHeight;
  }

  function updateEmpty() {
    if (ui.empty) ui.empty.hidden = items.length > 0;
  }

  // ------------------------------------------------------------------ message items

  const dirty = new Set();
  let frameQueued = false;

  function scheduleRender(item) {
    item.touched = Date.now();
    dirty.add(item);
    if (frameQueued) return;
    frameQueued = true;
    // One render per animation frame (throttles re-rendering of streamed Markdown).
    if (document.hidden) setTimeout(flushRender, 100);
    else requestAnimationFrame(flushRender);
  }

  function flushRender() {
    frameQueued = false;
    if (!mounted) return;
    for (const it of dirty) if (it.el.isConnected) renderItem(it);
    dirty.clear();
    updateEmpty();
    if (stick) scrollToBottom();
  }

  function createItem(msg, extra) {
    const el = h('div', 'cd-msg');
    const bubble = h('div', 'cd-bubble');
    const body = h('div', 'cd-body');
    const meta = h('div', 'cd-meta');
    bubble.appendChild(body);
    el.append(bubble, meta);
    const item = Object.assign(
      {
        key: uuid4(),
        id: msg.id != null ? String(msg.id) : null,
        msg: Object.assign({ content: '', status: 'completed' }, msg),
        local: null,
        placeholder: false,
        errorText: '',
        streamed: '', // text built from delta events only
        el,
        body,
        meta,
        touched: Date.now(),
      },
      extra || {}
    );
    if (item.id) {
      byId.set(item.id, item);
      claimOrphan(item);
    }
    return item;
  }

  function appendItem(item) {
    items.push(item);
    if (mounted) ui.log.appendChild(item.el);
    updateEmpty();
    scheduleRender(item);
    if (!isOpen && item.msg.role !== 'user' && mounted) ui.unread.hidden = false;
  }

  function removeItem(item) {
    const i = items.indexOf(item);
    if (i !== -1) items.splice(i, 1);
    if (item.id && byId.get(item.id) === item) byId.delete(item.id);
    dirty.delete(item);
    item.el.remove();
    updateEmpty();
  }

  function mergeInto(item, msg) {
    const cur = item.msg;
    if (item.local && item.local.state && msg.role === 'user') item.local.state = null;
    if (rank(msg.status) < rank(cur.status)) {
      // stale snapshot (e.g. a late POST response after the stream already finished the reply)
      if (!cur.created_at && msg.created_at) cur.created_at = msg.created_at;
      return;
    }
    const next = Object.assign({}, cur, msg);
    if (rank(msg.status) < 2 && String(msg.content || '').length < String(cur.content || '').length) {
      next.content = cur.content; // keep the longer snapshot until the final message
    }
    if (next.content == null) next.content = '';
    item.msg = next;
  }

  function bindId(item, id) {
    item.id = String(id);
    byId.set(item.id, item);
    claimOrphan(item);
  }

  // Adopt an optimistic bubble for a server message whose id we have not seen yet.
  function adopt(msg) {
    if (msg.role === 'user') {
      return (
        items.find(
          (it) =>
            !it.id &&
            it.local &&
            (msg.client_message_id
              ? it.local.cmid === msg.client_message_id
              : it.local.state === 'sending' && it.msg.content.trim() === String(msg.content || '').trim())
        ) || null
      );
    }
    if (msg.role === 'assistant' && msg.reply_to != null) {
      const replyTo = String(msg.reply_to);
      return items.find((it) => !it.id && it.placeholder && it.forUser && it.forUser.id === replyTo) || null;
    }
    return null;
  }

  function upsertMessage(msg) {
    if (!msg || typeof msg !== 'object' || msg.id == null) return null;
    if (msg.conversation != null && conversationId && String(msg.conversation) !== conversationId) return null;
    const id = String(msg.id);
    let item = byId.get(id);
    if (!item) {
      item = adopt(msg);
      if (item) bindId(item, id);
    }
    if (item) {
      mergeInto(item, msg);
      scheduleRender(item);
      if (!isOpen && msg.role !== 'user' && rank(msg.status) === 2 && mounted) ui.unread.hidden = false;
    } else {
      item = createItem(msg);
      appendItem(item);
    }
    return item;
  }

  // Stream events for a reply id we do not know yet. While a send is in flight they may be
  // for our own reply (its id arrives with the POST response), so they are held as an
  // "orphan" and applied when the id gets bound; otherwise a new bubble is created at once.
  const orphans = new Map();

  function sendInFlight() {
    return items.some((it) => it.placeholder && !it.id);
  }

  function newReplyMsg(id) {
    return { id, role: 'assistant', content: '', status: 'pending', created_at: new Date().toISOString() };
  }

  function replyTarget(replyId) {
    const id = String(replyId);
    const known = byId.get(id);
    if (known) return known;
    if (sendInFlight()) {
      let o = orphans.get(id);
      if (!o) {
        o = { orphan: true, id, msg: newReplyMsg(id), streamed: '', errorText: '' };
        orphans.set(id, o);
      }
      return o;
    }
    const item = createItem(newReplyMsg(id));
    appendItem(item);
    return item;
  }

  function touch(target) {
    if (!target.orphan) scheduleRender(target);
  }

  function claimOrphan(item) {
    const o = orphans.get(item.id);
    if (!o) return;
    orphans.delete(item.id);
    if (o.streamed.length > item.streamed.length) item.streamed = o.streamed;
    if (rank(o.msg.status) > rank(item.msg.status)) item.msg.status = o.msg.status;
    if (o.msg.error_code) item.msg.error_code = o.msg.error_code;
    if (o.errorText) item.errorText = o.errorText;
  }

  // After a send settles: events held for ids that turned out not to be ours get a bubble.
  function releaseOrphans() {
    if (sendInFlight()) return;
    for (const o of Array.from(orphans.values())) {
      if (byId.has(o.id)) continue;
      const item = createItem(newReplyMsg(o.id));
      appendItem(item);
    }
    orphans.clear();
  }

  // Snapshots (history, polling, POST responses) and deltas are kept apart: the stream may
  // replay a reply's deltas from its start (fresh connection without Last-Event-ID) while the
  // snapshot already holds part of the text. Until the final message, show whichever is
  // longer; both are prefixes of the same reply, so nothing is duplicated.
  function displayText(item) {
    const snap = String(item.msg.content || '');
    if (rank(item.msg.status) === 2 || item.msg.role === 'user') return snap;
    return item.streamed.length >= snap.length ? item.streamed : snap;
  }

  function renderItem(item) {
    const m = item.msg;
    const role = ROLES.has(m.role) ? m.role : 'assistant';
    const status = m.status || 'completed';
    const failedReply = role !== 'user' && status === 'failed';
    const unsent = !!(item.local && item.local.state === 'failed');
    const busy = role !== 'user' && rank(status) < 2;

    item.el.className =
      'cd-msg cd-msg--' + role + (failedReply ? ' cd-msg--error' : '') + (unsent ? ' cd-msg--unsent' : '');
    item.el.setAttribute('data-role', role);
    item.el.setAttribute('data-status', unsent ? 'unsent' : item.local && item.local.state ? 'sending' : status);
    if (item.id) item.el.setAttribute('data-id', item.id);
    // A reply merged into a later one (burst debounce) has no text: that later reply answers.
    item.el.hidden = role !== 'user' && !!m.merged_into;
    if (busy) item.el.setAttribute('aria-busy', 'true');
    else item.el.removeAttribute('aria-busy');

    const body = item.body;
    body.replaceChildren();
    const content = displayText(item);
    if (role === 'user') {
      body.textContent = content;
    } else if (busy && !content) {
      const typing = h('span', 'cd-typing');
      for (let i = 0; i < 3; i++) typing.appendChild(h('span', 'cd-dot'));
      const label = h('span', 'cd-sr');
      label.textContent = T.typing;
      typing.appendChild(label);
      body.appendChild(typing);
    } else {
      const text = content || (failedReply ? item.errorText || T.failedReplyFallback : '');
      body.appendChild(renderMarkdown(text));
      if (failedReply && content && item.errorText && !content.includes(item.errorText)) {
        // partial streamed text followed by an error event (the final message replaces both)
        const p = h('p');
        p.textContent = item.errorText;
        body.appendChild(p);
      }
      if (busy) {
        let target = body.lastElementChild;
        if (target && (target.tagName === 'UL' || target.tagName === 'OL')) target = target.lastElementChild;
        if (!target || target.tagName === 'PRE' || target.tagName === 'HR') target = body;
        target.appendChild(h('span', 'cd-caret', { 'aria-hidden': 'true' }));
      }
    }

    const meta = item.meta;
    meta.replaceChildren();
    if (role === 'staff') {
      const who = h('span', 'cd-sender');
      who.textContent = T.staff;
      meta.appendChild(who);
    }
    if (failedReply) {
      const lbl = h('span', 'cd-fail-label');
      lbl.textContent = T.failedReply;
      meta.appendChild(lbl);
    }
    const when = fmtTime(m.created_at);
    if (when) {
      const t = h('time', 'cd-time', { datetime: String(m.created_at) });
      t.textContent = when;
      meta.appendChild(t);
    }
    if (unsent) {
      const note = h('span', 'cd-note');
      note.textContent = item.local.note || T.notSent;
      meta.appendChild(note);
      if (item.local.retryable) {
        const btn = h('button', 'cd-retry', { type: 'button' });
        btn.textContent = T.retry;
        const wait = item.local.retryAt - Date.now();
        if (wait > 0) {
          btn.disabled = true;
          setTimeout(() => scheduleRender(item), wait + 50);
        }
        btn.addEventListener('click', () => retry(item));
        meta.appendChild(btn);
      }
    }
  }

  // ------------------------------------------------------------------ sending

  function submit() {
    if (!mounted || sending || restoring) return;
    const text = ui.input.value;
    if (!text.trim()) return;
    ui.input.value = '';
    autosize();
    const item = createItem(
      { role: 'user', content: text, status: 'pending', created_at: new Date().toISOString() },
      { local: { cmid: uuid4(), state: 'sending', note: '', retryable: false, retryAt: 0 } }
    );
    stick = true;
    appendItem(item);
    queueSend(item);
  }

  function retry(item) {
    if (!item.local || item.local.state !== 'failed') return;
    item.local.state = 'sending';
    stick = true;
    scheduleRender(item);
    queueSend(item);
  }

  function queueSend(item) {
    inflight++;
    setSending(true);
    sendChain = sendChain
      .then(() => doSend(item))
      .catch((e) => console.warn('[chatdesk]', e))
      .then(() => {
        inflight--;
        if (!inflight) setSending(false);
      });
  }

  function describeSendError(e) {
    if (e.status === 429) return { note: T.rateLimited, retryable: true };
    if (e.status === 413 || e.code === 'payload_too_large') return { note: T.tooLong, retryable: false };
    if (e.status >= 400 && e.status < 500 && !e.session) {
      const fieldMsg = e.fields && e.fields.content && e.fields.content[0];
      return { note: String(fieldMsg || e.message || T.invalid), retryable: false };
    }
    return { note: T.notSent, retryable: true }; // network error, 5xx, session unavailable
  }

  async function postMessage(convId, item) {
    return request('POST', '/conversations/' + enc(convId) + '/messages/', {
      content: item.msg.content,
      client_message_id: item.local.cmid,
    });
  }

  async function doSend(item) {
    const gen = convGen;
    if (!items.includes(item)) return; // cleared by "new conversation" meanwhile
    item.local.state = 'sending';
    scheduleRender(item);
    const placeholder = createItem(
      { role: 'assistant', content: '', status: 'pending', created_at: new Date().toISOString() },
      { placeholder: true, forUser: item }
    );
    appendItem(placeholder);
    try {
      let convId = await ensureConversation(gen);
      if (gen !== convGen) return;
      await streamReady(openStream(convId), 2000);
      let data;
      try {
        data = await postMessage(convId, item);
      } catch (e) {
        if (e.status !== 404 && e.status !== 409) throw e;
        // The conversation is gone or closed: start a new one and send there, once.
        if (gen !== convGen) return;
        if (conversationId === convId) forgetConversation();
        convId = await ensureConversation(gen);
        if (gen !== convGen) return;
        await streamReady(openStream(convId), 2000);
        data = await postMessage(convId, item);
      }
      if (gen !== convGen) return;
      item.local.state = null;
      if (data && data.message) {
        const existing = byId.get(String(data.message.id));
        if (existing && existing !== item) {
          removeItem(item);
          mergeInto(existing, data.message);
          scheduleRender(existing);
        } else {
          if (!item.id) bindId(item, data.message.id);
          mergeInto(item, data.message);
          scheduleRender(item);
        }
      } else {
        item.msg.status = 'completed';
        scheduleRender(item);
      }
      if (data && data.reply && data.reply.id != null) {
        const rid = String(data.reply.id);
        const existing = byId.get(rid);
        if (existing && existing !== placeholder) {
          removeItem(placeholder);
          mergeInto(existing, data.reply);
          scheduleRender(existing);
        } else {
          if (!placeholder.id) bindId(placeholder, rid);
          mergeInto(placeholder, data.reply);
          scheduleRender(placeholder);
        }
      } else if (!placeholder.id) {
        removeItem(placeholder);
      }
    } catch (e) {
      if (gen !== convGen) return;
      if (!placeholder.id) removeItem(placeholder);
      const d = describeSendError(e);
      item.local.state = 'failed';
      item.local.note = d.note;
      item.local.retryable = d.retryable;
      item.local.retryAt = e.status === 429 && e.retryAfter ? Date.now() + Math.min(e.retryAfter, 60) * 1000 : 0;
      if (isAvailabilityError(e)) setUnavailable(true);
      scheduleRender(item);
    } finally {
      if (gen === convGen) releaseOrphans();
    }
  }

  // ------------------------------------------------------------------ history & polling

  async function fetchMessages(convId, after, gen) {
    for (let page = 0; page < 50; page++) {
      const q = '?limit=100' + (after ? '&after=' + enc(after) : '');
      const data = await request('GET', '/conversations/' + enc(convId) + '/messages/' + q);
      if (gen !== convGen || conversationId !== convId) return;
      const results = (data && Array.isArray(data.results) && data.results) || [];
      for (const m of results) upsertMessage(m);
      if (!data || !data.has_more || !results.length) return;
      after = results[results.length - 1].id;
    }
  }

  async function restore() {
    const id = conversationId;
    if (!id) return;
    const gen = convGen;
    let conv;
    try {
      conv = await request('GET', '/conversations/' + enc(id) + '/');
    } catch (e) {
      if (e.status === 404) {
        if (gen === convGen && conversationId === id) forgetConversation();
        return;
      }
      throw e;
    }
    if (gen !== convGen || conversationId !== id) return;
    if (conv && conv.status === 'closed') {
      forgetConversation();
      return;
    }
    await fetchMessages(id, null, gen);
    if (gen === convGen && conversationId === id) openStream(id);
  }

  function start() {
    if (started) return;
    started = true;
    // Sending waits until the stored conversation's history is in, so it stays in order.
    restoring = !!conversationId || !!USER_ID; // a verified customer may have history elsewhere
    updateSendButton();
    ensureSession()
      .then(() => adoptLatestConversation())
      .then(() => restore())
      .catch(backgroundError)
      .finally(() => {
        restoring = false;
        updateSendButton();
      });
    setInterval(watchdog, 3000);
  }

  // Polling fallback: if a reply is unfinished and the stream is down (or silent for a while),
  // fetch the messages after the one preceding that reply.
  function watchdog() {
    if (!conversationId || !stream) return;
    const now = Date.now();
    if (stream.connected && now - stream.lastActivity > 60000 && stream.ctrl) {
      stream.ctrl.abort(); // half-open connection: no bytes (not even heartbeats) for a minute
    }
    const idx = items.findIndex((it) => it.id && it.msg.role !== 'user' && rank(it.msg.status) < 2);
    if (idx === -1) return;
    const quiet = now - items[idx].touched > 15000;
    if (stream.connected && !quiet) return;
    poll(idx);
  }

  async function poll(idx) {
    if (polling) return;
    polling = true;
    const gen = convGen;
    const convId = conversationId;
    try {
      let after = null;
      for (let k = idx - 1; k >= 0; k--) {
        if (items[k].id) {
          after = items[k].id;
          break;
        }
      }
      await fetchMessages(convId, after, gen);
    } catch (e) {
      if (e && e.status === 404 && gen === convGen && conversationId === convId) forgetConversation();
    } finally {
      polling = false;
    }
  }

  // ------------------------------------------------------------------ SSE stream (fetch + reader)

  const lastEventIds = new Map(); // conversation id -> last SSE event id (this page view)

  function openStream(convId) {
    if (stream && stream.convId === convId && !stream.closed) return stream;
    closeStream();
    const s = {
      convId,
      closed: false,
      connected: false,
      ctrl: null,
      lastEventId: lastEventIds.get(convId) || null,
      lastActivity: Date.now(),
      waiters: [],
      wake: null,
    };
    stream = s;
    runStream(s).catch((e) => console.warn('[chatdesk] stream', e));
    return s;
  }

  function closeStream() {
    if (!stream) return;
    const s = stream;
    stream = null;
    s.closed = true;
    if (s.ctrl) s.ctrl.abort();
    if (s.wake) s.wake();
    s.waiters.splice(0).forEach((fn) => fn());
  }

  function streamReady(s, timeoutMs) {
    if (s.connected || s.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        const i = s.waiters.indexOf(done);
        if (i !== -1) s.waiters.splice(i, 1);
        resolve();
      }
      s.waiters.push(done);
    });
  }

  function pause(s, ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        s.wake = null;
        resolve();
      }
      s.wake = done;
    });
  }

  async function runStream(s) {
    let delay = 1000;
    let authRetried = false;
    while (!s.closed) {
      try {
        const tok = await ensureSession();
        if (s.closed) return;
        const headers = { Accept: 'text/event-stream', Authorization: 'Bearer ' + tok };
        if (s.lastEventId) headers['Last-Event-ID'] = s.lastEventId;
        s.ctrl = new AbortController();
        const res = await fetch(API + '/conversations/' + enc(s.convId) + '/events/', {
          headers,
          signal: s.ctrl.signal,
          mode: 'cors',
          credentials: 'omit',
          cache: 'no-store',
        });
        if (s.closed) return;
        if (res.status === 401 && !authRetried) {
          authRetried = true;
          if (token === tok) dropToken();
          continue;
        }
        if (res.status === 404) {
          if (conversationId === s.convId) forgetConversation();
          return;
        }
        if (!res.ok || !res.body) throw new ApiError(res.status, 'stream_http_' + res.status, '');
        markAvailable();
        authRetried = false;
        delay = 1000;
        s.connected = true;
        s.lastActivity = Date.now();
        s.waiters.splice(0).forEach((fn) => fn());
        await readStream(s, res.body.getReader());
      } catch (e) {
        if (s.closed) return;
        if (e && e.session) setUnavailable(true);
      }
      s.connected = false;
      if (s.closed) return;
      await pause(s, delay); // 1s, 2s, 4s ... 15s
      delay = Math.min(delay * 2, 15000);
    }
  }

  async function readStream(s, reader) {
    const decoder = new TextDecoder();
    // Per-connection parser state: an event cut off by a disconnect is discarded, and its id is
    // not committed, so the reconnect's Last-Event-ID makes the server resend it.
    let buf = '';
    let first = true;
    let data = [];
    let hasData = false;
    let type = '';
    let idBuf = s.lastEventId;

    const dispatch = () => {
      s.lastEventId = idBuf;
      if (idBuf) lastEventIds.set(s.convId, idBuf);
      if (hasData) {
        const evType = type || 'message';
        const payload = data.join('\n');
        handleEvent(s, evType, payload);
      }
      data = [];
      hasData = false;
      type = '';
    };
    const processLine = (line) => {
      if (line === '') return dispatch();
      if (line[0] === ':') return; // comment / heartbeat
      const c = line.indexOf(':');
      const field = c === -1 ? line : line.slice(0, c);
      let value = c === -1 ? '' : line.slice(c + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'data') {
        data.push(value);
        hasData = true;
      } else if (field === 'event') {
        type = value;
      } else if (field === 'id') {
        if (!value.includes('\0')) idBuf = value;
      }
    };

    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || s.closed) break;
        s.lastActivity = Date.now();
        buf += decoder.decode(value, { stream: true });
        if (first && buf) {
          if (buf[0] === '\uFEFF') buf = buf.slice(1);
          first = false;
        }
        let m;
        while ((m = /\r\n|\r|\n/.exec(buf))) {
          if (m[0] === '\r' && m.index === buf.length - 1) break; // maybe a CRLF split across chunks
          processLine(buf.slice(0, m.index));
          buf = buf.slice(m.index + m[0].length);
          if (s.closed) return;
        }
      }
    } finally {
      reader.cancel().catch(() => {
        /* already aborted or closed */
      });
    }
  }

  function handleEvent(s, type, raw) {
    if (s.closed || s !== stream || s.convId !== conversationId) return;
    let data;
    try {
      data = JSON.parse(raw);
    } catch (_) {
      return;
    }
    if (!data || typeof data !== 'object') return;
    if (type === 'delta') {
      if (data.reply_id == null || typeof data.text !== 'string') return;
      const item = replyTarget(data.reply_id);
      if (rank(item.msg.status) === 2) return; // already final: late delta
      item.streamed += data.text;
      item.msg.status = 'streaming';
      touch(item);
    } else if (type === 'message') {
      upsertMessage(data);
    } else if (type === 'status') {
      if (data.reply_id == null) return;
      if (data.status === 'retrying') {
        // The server retries the generation: drop the partial text, the next deltas restart it.
        const item = replyTarget(data.reply_id);
        if (rank(item.msg.status) === 2) return;
        item.streamed = '';
        item.msg.content = '';
        item.msg.status = 'pending';
        touch(item);
        return;
      }
      if (!(data.status in RANK)) return;
      const item = replyTarget(data.reply_id);
      if (rank(data.status) >= rank(item.msg.status)) item.msg.status = data.status;
      touch(item);
    } else if (type === 'error') {
      if (data.reply_id == null) return;
      const item = replyTarget(data.reply_id);
      item.msg.status = 'failed';
      if (data.code) item.msg.error_code = String(data.code);
      if (data.message) item.errorText = String(data.message);
      touch(item);
    }
  }

  window.addEventListener('online', () => {
    if (stream && !stream.connected && stream.wake) stream.wake();
  });

  // ------------------------------------------------------------------ boot

  const api = Object.freeze({
    open: () => open(),
    close: () => close(),
    newConversation: () => newConversation(),
  });
  window.Chatdesk = api;

  function boot() {
    if (mounted) return;
    buildUi();
    if (pendingOpen) open(false); // data-open: show the panel without stealing the page's focus
  }

  if (document.body) boot();
  else document.addEventListener('DOMContentLoaded', boot, { once: true });
})();
