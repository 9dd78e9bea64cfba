// The staff inbox (templates/inbox/index.html; endpoints in conversations/inbox). Bundled by
// widget/build.mjs into chatbot/static/chatdesk/inbox.js. Plain DOM, no framework.
//
// Live: one EventSource on the staff inbox stream; each `inbox` event names a conversation,
// and the rows named within 250 ms are fetched together (never a poll). The open
// conversation has its own stream; a message or handoff there re-fetches it (the server
// masks personal data, so nothing unmasked arrives through the stream's payloads).
// Markdown is the widget's own safe renderer (markdown.js → view/dom.js appendTree).

import { parseMarkdown } from '../markdown.js';
import { appendTree, h } from '../view/dom.js';
import { cannedMatch, fmtWait, HANDLING_LABELS } from './logic.js';

const cfg = JSON.parse(document.getElementById('inbox-config').textContent);
const root = document.getElementById('inbox');
const rowsEl = document.getElementById('cd-rows');
const paneEl = document.getElementById('cd-conversation');

const state = {
  view: sessionStorage.getItem('cd-inbox-view') || 'mine',
  rows: [], // in the server's order
  selected: null,
  detail: null,
  canned: [],
  pendingIds: new Set(),
  convStream: null,
  mode: 'reply', // or 'note'
  revealed: null, // {messageId: text} after an audited reveal
};

function csrf() {
  const m = /(?:^|;\s*)csrftoken=([^;]+)/.exec(document.cookie);
  return m ? decodeURIComponent(m[1]) : '';
}

async function api(url, body) {
  const init = body === undefined
    ? { credentials: 'same-origin' }
    : {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf() },
        body: JSON.stringify(body),
      };
  const res = await fetch(url, init);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error((data.error && data.error.message) || `HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return data;
}

const detailUrl = (id) => cfg.urls.detail.replace('00000000-0000-0000-0000-000000000000', id);

function announce(text) {
  document.getElementById('cd-live').textContent = text;
}

// ---------------------------------------------------------------------------- the list

function renderCounts(counts) {
  if (!counts) return;
  for (const btn of root.querySelectorAll('.cd-views button')) {
    const n = counts[btn.dataset.view];
    const el = btn.querySelector('.cd-count');
    if (el) el.textContent = n ? String(n) : '';
  }
}

function rowNode(row) {
  const li = h('li', 'cd-row', { role: 'option', 'data-id': row.id, tabindex: '0' });
  if (row.id === state.selected) li.setAttribute('aria-selected', 'true');
  const top = h('div', 'cd-row-top');
  const name = h('strong', 'cd-row-name');
  name.textContent = row.customer;
  top.appendChild(name);
  if (row.open_flags) {
    const flag = h('span', 'cd-flags-open', { title: `${row.open_flags} open moderation flag(s)` });
    flag.textContent = `⚑ ${row.open_flags}`;
    top.appendChild(flag);
  }
  if (row.unread) {
    const badge = h('span', 'cd-unread', { title: `${row.unread} unread` });
    badge.textContent = String(row.unread);
    top.appendChild(badge);
  }
  const preview = h('div', 'cd-row-preview');
  preview.textContent = row.preview || '—';
  const meta = h('div', 'cd-row-meta');
  const since = row.waiting_since;
  const wait = h('span', 'cd-wait', since ? { 'data-since': since } : null);
  wait.textContent = since ? `waiting ${fmtWait(since)}` : HANDLING_LABELS[row.handling] || row.handling;
  meta.appendChild(wait);
  const who = h('span', 'cd-assignee');
  who.textContent = row.assignee ? `→ ${row.assignee}` : 'unassigned';
  meta.appendChild(who);
  li.append(top, preview, meta);
  li.addEventListener('click', () => openConversation(row.id));
  li.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') openConversation(row.id);
  });
  return li;
}

function renderRows() {
  rowsEl.replaceChildren(...state.rows.map(rowNode));
  document.getElementById('cd-empty').hidden = state.rows.length > 0;
  for (const btn of root.querySelectorAll('.cd-views button')) {
    btn.setAttribute('aria-pressed', String(btn.dataset.view === state.view));
  }
}

async function loadRows() {
  const data = await api(`${cfg.urls.rows}?view=${encodeURIComponent(state.view)}`);
  state.rows = data.rows;
  renderCounts(data.counts);
  renderRows();
}

// Rows an event named: fetched together; the server says which still belong to the view.
async function refreshPending() {
  const ids = [...state.pendingIds];
  state.pendingIds.clear();
  if (!ids.length) return;
  const data = await api(`${cfg.urls.rows}?view=${encodeURIComponent(state.view)}&ids=${ids.join(',')}`);
  const fresh = new Map(data.rows.map((r) => [r.id, r]));
  const absent = new Set(data.absent);
  // A row new to this view is placed by the server's order (one list fetch); known rows
  // are updated in place and rows that left the view are dropped.
  const known = new Set(state.rows.map((r) => r.id));
  const added = data.rows.filter((r) => !known.has(r.id));
  if (added.length) {
    announce(`${added.length} conversation(s) arrived`);
    return loadRows();
  }
  state.rows = state.rows.filter((r) => !absent.has(r.id)).map((r) => fresh.get(r.id) || r);
  renderCounts(data.counts);
  renderRows();
}

let refreshTimer = null;
function queueRefresh(id) {
  state.pendingIds.add(id);
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    refreshPending().catch((e) => announce(e.message));
  }, 250);
}

function connectInbox() {
  const source = new EventSource(cfg.urls.events);
  source.addEventListener('inbox', (e) => {
    const data = JSON.parse(e.data);
    queueRefresh(data.conversation_id);
    if (data.conversation_id === state.selected) queueDetail();
  });
  return source;
}

// ---------------------------------------------------------------------- a conversation

let detailTimer = null;
function queueDetail() {
  if (detailTimer) return;
  detailTimer = setTimeout(() => {
    detailTimer = null;
    if (state.selected) loadDetail(state.selected, false).catch((e) => announce(e.message));
  }, 150);
}

async function openConversation(id) {
  state.selected = id;
  state.revealed = null;
  for (const li of rowsEl.children) {
    li.setAttribute('aria-selected', String(li.dataset.id === id));
  }
  if (state.convStream) state.convStream.close();
  state.convStream = new EventSource(`${detailUrl(id)}events/`);
  for (const name of ['message', 'handoff', 'agent_joined', 'agent_left', 'closed', 'error']) {
    state.convStream.addEventListener(name, queueDetail);
  }
  state.convStream.addEventListener('delta', () => {
    const typing = paneEl.querySelector('.cd-typing');
    if (typing) typing.hidden = false;
  });
  await loadDetail(id, true);
}

async function loadDetail(id, focus) {
  const detail = await api(detailUrl(id));
  if (state.selected !== id) return;
  const draft = paneEl.querySelector('.cd-compose textarea');
  const keep = draft ? draft.value : '';
  state.detail = detail;
  renderDetail(detail, keep);
  const row = state.rows.find((r) => r.id === id);
  if (row && row.unread) {
    row.unread = 0;
    renderRows();
  }
  if (focus) {
    const box = paneEl.querySelector('.cd-compose textarea');
    if (box) box.focus();
  }
}

function button(label, cls, onClick, disabled) {
  const b = h('button', `button ${cls || ''}`.trim(), { type: 'button' });
  b.textContent = label;
  if (disabled) b.disabled = true;
  b.addEventListener('click', onClick);
  return b;
}

async function act(action, body) {
  try {
    const data = await api(`${detailUrl(state.selected)}${action}/`, body || {});
    if (data.conversation) {
      state.detail = data.conversation;
      renderDetail(data.conversation, '');
    }
    queueRefresh(state.selected);
    return data;
  } catch (e) {
    announce(e.message);
    showError(e.message);
    return null;
  }
}

function showError(text) {
  const el = paneEl.querySelector('.cd-error');
  if (el) {
    el.textContent = text;
    el.hidden = !text;
  }
}

function messageNode(m) {
  const cls = `cd-msg cd-msg--${m.role}${m.status === 'failed' ? ' cd-msg--failed' : ''}`;
  const node = h('article', cls, { id: `msg-${m.id}`, 'data-status': m.status });
  const meta = h('div', 'cd-msg-meta');
  const who = { user: state.detail.customer, assistant: 'Bot', staff: m.author || 'Staff', system: 'System' };
  meta.textContent = `${who[m.role] || m.role} · ${new Date(m.created_at).toLocaleTimeString()}`;
  if (m.status !== 'completed') meta.textContent += ` · ${m.status}`;
  if (m.open_flags) {
    const flag = h('span', 'cd-flags-open');
    flag.textContent = ` ⚑ ${m.open_flags}`;
    meta.appendChild(flag);
  }
  const body = h('div', 'cd-msg-body');
  const text = state.revealed && m.id in state.revealed ? state.revealed[m.id] : m.content;
  appendTree(body, parseMarkdown(text));
  node.append(meta, body);
  return node;
}

function eventNode(e) {
  const node = h('div', e.kind === 'note' ? 'cd-event cd-note' : 'cd-event');
  const when = new Date(e.created_at).toLocaleTimeString();
  if (e.kind === 'note') {
    const meta = h('div', 'cd-msg-meta');
    meta.textContent = `Internal note · ${e.actor} · ${when}`;
    const body = h('div', 'cd-msg-body');
    appendTree(body, parseMarkdown(e.text));
    node.append(meta, body);
  } else {
    const reason = e.reason ? ` (${e.reason})` : '';
    const who = e.actor ? ` by ${e.actor}` : '';
    const whom = e.detail && e.detail.assignee_name ? ` → ${e.detail.assignee_name}` : '';
    node.textContent = `${e.label}${whom}${who}${reason} · ${when}`;
  }
  return node;
}

function transcriptNode(d) {
  const log = h('div', 'cd-transcript', { role: 'log', 'aria-label': 'Transcript' });
  const items = [
    ...d.messages.map((m) => ({ at: m.created_at, node: () => messageNode(m) })),
    ...d.events.map((e) => ({ at: e.created_at, node: () => eventNode(e) })),
  ].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  for (const item of items) log.appendChild(item.node());
  const typing = h('p', 'cd-typing', { hidden: '' });
  typing.textContent = 'The bot is writing…';
  log.appendChild(typing);
  return log;
}

function actionsNode(d) {
  const bar = h('div', 'cd-actions');
  const mine = d.assignee_id === cfg.me;
  const open = d.status === 'open';
  if (open && d.may.take_over && !mine) bar.appendChild(button('Take over', 'cd-take-over', () => act('take_over')));
  if (open && d.may.release && d.handling !== 'bot') bar.appendChild(button('Release to bot', 'cd-release', () => act('release')));
  if (open && d.may.close) bar.appendChild(button('Close', 'cd-close', () => act('close')));
  if (open && d.may.assign && d.agents.length) {
    const select = h('select', 'cd-assign', { 'aria-label': 'Assign to' });
    select.appendChild(new Option('Assign to…', ''));
    for (const a of d.agents) select.appendChild(new Option(`${a.name}${a.online ? ' (online)' : ''}`, a.id));
    select.addEventListener('change', () => select.value && act('assign', { agent_id: select.value }));
    bar.appendChild(select);
  }
  const masked = d.messages.some((m) => m.masked);
  if (d.may.reveal && masked && !state.revealed) {
    bar.appendChild(button('Reveal personal data', 'cd-reveal', reveal));
  }
  return bar;
}

async function reveal() {
  if (!window.confirm('Reveal the masked personal data? This is recorded in the audit log.')) return;
  const data = await act('reveal');
  if (!data) return;
  state.revealed = Object.fromEntries(data.messages.map((m) => [m.id, m.content]));
  renderDetail(state.detail, '');
}

function composeNode(d) {
  const wrap = h('form', 'cd-compose');
  const tabs = h('div', 'cd-compose-tabs');
  const canReply = d.may.reply && d.status === 'open';
  if (!canReply && state.mode === 'reply') state.mode = 'note';
  for (const [mode, label, allowed] of [['reply', 'Reply', canReply], ['note', 'Internal note', d.may.note]]) {
    if (!allowed) continue;
    const t = button(label, `cd-tab${state.mode === mode ? ' cd-tab--on' : ''}`, () => {
      state.mode = mode;
      renderDetail(state.detail, wrap.querySelector('textarea').value);
    });
    t.setAttribute('aria-pressed', String(state.mode === mode));
    tabs.appendChild(t);
  }
  const box = h('textarea', state.mode === 'note' ? 'cd-box cd-box--note' : 'cd-box', {
    rows: '3',
    'aria-label': state.mode === 'note' ? 'Internal note' : 'Reply',
    placeholder: state.mode === 'note'
      ? 'A note for colleagues (the customer never sees it)'
      : 'Reply… Enter sends, Shift+Enter for a new line, /shortcut for a canned reply',
  });
  const suggest = h('ul', 'cd-canned', { role: 'listbox', hidden: '' });
  const send = async () => {
    const text = box.value.trim();
    if (!text) return;
    box.disabled = true;
    const done = state.mode === 'note' ? await act('note', { text }) : await act('reply', { content: text });
    box.disabled = false;
    if (done) {
      box.value = '';
      showError('');
    }
    box.focus();
  };
  const showSuggestions = () => {
    const hits = cannedMatch(state.canned, box.value);
    suggest.replaceChildren(
      ...hits.map((c) => {
        const li = h('li', null, { role: 'option' });
        li.textContent = `/${c.shortcut} (${c.language}) ${c.title}`;
        li.addEventListener('mousedown', (e) => {
          e.preventDefault();
          box.value = c.body;
          suggest.hidden = true;
        });
        return li;
      }),
    );
    suggest.hidden = hits.length === 0;
    return hits;
  };
  box.addEventListener('input', showSuggestions);
  box.addEventListener('keydown', (e) => {
    if ((e.key === 'Enter' || e.key === 'Tab') && !e.shiftKey && box.value.startsWith('/')) {
      const hits = cannedMatch(state.canned, box.value);
      if (hits.length) {
        e.preventDefault();
        box.value = hits[0].body; // the shortcut becomes the reply; Enter again sends it
        suggest.hidden = true;
        return;
      }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });
  wrap.addEventListener('submit', (e) => {
    e.preventDefault();
    send();
  });
  const error = h('p', 'cd-error', { role: 'alert', hidden: '' });
  const submit = h('button', 'button default', { type: 'submit' });
  submit.textContent = state.mode === 'note' ? 'Add note' : 'Send';
  wrap.append(tabs, suggest, box, submit, error);
  return wrap;
}

function sidebarNode(d) {
  const side = h('aside', 'cd-sidebar', { 'aria-label': 'Customer' });
  const s = d.sidebar;
  const title = h('h3');
  title.textContent = 'Customer';
  side.appendChild(title);
  if (!s.customer) {
    side.appendChild(document.createTextNode('Deleted customer'));
    return side;
  }
  const dl = h('dl');
  const add = (k, v) => {
    if (!v) return;
    const dt = h('dt');
    dt.textContent = k;
    const dd = h('dd');
    dd.textContent = v;
    dl.append(dt, dd);
  };
  add('Name', s.customer.name);
  add('Identity', s.customer.verified ? `verified${s.customer.external_id ? ` (${s.customer.external_id})` : ''}` : 'anonymous visitor');
  add('Email', s.customer.email);
  add('Follow-up email', s.customer.followup_email);
  add('Spend this month', `${s.spend.tokens.toLocaleString()} tokens · ${s.spend.cost}`);
  side.appendChild(dl);
  if (s.preference_url) {
    const a = h('a', null, { href: s.preference_url });
    a.textContent = 'Model preference';
    side.appendChild(a);
  }
  const link = h('a', 'cd-admin-link', { href: d.admin_url });
  link.textContent = 'Full transcript record';
  side.appendChild(link);
  if (s.earlier.length) {
    const h4 = h('h4');
    h4.textContent = 'Earlier conversations';
    const ul = h('ul');
    for (const c of s.earlier) {
      const li = h('li');
      const a = h('a', null, { href: '#' });
      a.textContent = `${c.title} · ${c.status === 'closed' ? 'closed' : HANDLING_LABELS[c.handling]}`;
      a.addEventListener('click', (e) => {
        e.preventDefault();
        openConversation(c.id);
      });
      li.appendChild(a);
      ul.appendChild(li);
    }
    side.append(h4, ul);
  }
  if (d.feedback.length) {
    const h4 = h('h4');
    h4.textContent = 'Feedback';
    const ul = h('ul');
    for (const f of d.feedback) {
      const li = h('li');
      li.textContent = `${f.kind === 'csat' ? 'Conversation' : 'Reply'}: ${f.vote === 'up' ? '👍' : '👎'} ${f.comment || ''}`;
      ul.appendChild(li);
    }
    side.append(h4, ul);
  }
  return side;
}

function renderDetail(d, draft) {
  const head = h('header', 'cd-conv-head');
  const name = h('h2');
  name.textContent = d.customer;
  const badge = h('span', `cd-badge cd-badge--${d.status === 'closed' ? 'closed' : d.handling}`);
  badge.textContent = d.status === 'closed' ? 'Closed' : HANDLING_LABELS[d.handling];
  const who = h('span', 'cd-conv-assignee');
  who.textContent = d.assignee ? `with ${d.assignee}` : '';
  head.append(name, badge, who, actionsNode(d));
  const main = h('div', 'cd-conv-main');
  const log = transcriptNode(d);
  main.append(log, composeNode(d));
  paneEl.replaceChildren(head, h('div', 'cd-conv-body'));
  paneEl.lastChild.append(main, sidebarNode(d));
  const box = paneEl.querySelector('.cd-compose textarea');
  if (box && draft) box.value = draft;
  log.scrollTop = log.scrollHeight;
}

// ------------------------------------------------------------------------- presence

async function heartbeat(status) {
  try {
    const data = await api(cfg.urls.heartbeat, status ? { status } : {});
    root.dataset.status = data.status;
  } catch (e) {
    announce(e.message);
  }
}

function tickWaits() {
  for (const el of rowsEl.querySelectorAll('.cd-wait[data-since]')) {
    el.textContent = `waiting ${fmtWait(el.dataset.since)}`;
  }
}

// ----------------------------------------------------------------------------- start

for (const btn of root.querySelectorAll('.cd-views button')) {
  btn.addEventListener('click', () => {
    state.view = btn.dataset.view;
    sessionStorage.setItem('cd-inbox-view', state.view);
    loadRows().catch((e) => announce(e.message));
  });
}
document.getElementById('cd-status').addEventListener('change', (e) => heartbeat(e.target.value));

loadRows().catch((e) => announce(e.message));
api(cfg.urls.canned).then((d) => (state.canned = d.replies)).catch(() => {});
connectInbox();
heartbeat();
setInterval(heartbeat, cfg.heartbeatSeconds * 1000);
setInterval(tickWaits, 30000);
