// One message bubble: its DOM, kept in step with its item. Renders are batched, one per
// animation frame (which also throttles re-rendering streamed Markdown).

import { SERVER_LANG } from '../i18n.js';
import { parseMarkdown, textOf } from '../markdown.js';
import { ROLES, SPEAKER, displayText, rank, replyErrorText, staffName } from '../messages.js';
import { cfg, state } from '../state.js';
import { appendTree, fmtTime, h } from './dom.js';
import { handoffControls } from './handoff.js';
import { announce, scrollToBottom, updateEmpty } from './panel.js';

const dirty = new Set();
let frameQueued = false;

export function createItemEl() {
  const el = h('div', 'cd-msg');
  const speaker = h('span', 'cd-sr cd-speaker'); // "You said:", read before the text
  const bubble = h('div', 'cd-bubble');
  const body = h('div', 'cd-body');
  const meta = h('div', 'cd-meta');
  bubble.appendChild(body);
  el.append(speaker, bubble, meta);
  return { el, speaker, body, meta };
}

export function scheduleRender(item) {
  item.touched = Date.now();
  dirty.add(item);
  if (frameQueued) return;
  frameQueued = true;
  if (document.hidden) setTimeout(flushRender, 100);
  else requestAnimationFrame(flushRender);
}

export function unschedule(item) {
  dirty.delete(item);
}

export function unscheduleAll() {
  dirty.clear();
}

function flushRender() {
  frameQueued = false;
  if (!state.mounted) return;
  for (const it of dirty) if (it.el.isConnected) renderItem(it);
  dirty.clear();
  updateEmpty();
  if (state.stick) scrollToBottom();
}

function renderItem(item) {
  const T = cfg.T;
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
  // A deferred one was never generated: a person handles the conversation.
  item.el.hidden = role !== 'user' && (!!m.merged_into || status === 'deferred');
  if (busy) item.el.setAttribute('aria-busy', 'true');
  else item.el.removeAttribute('aria-busy');
  item.speaker.textContent = T[SPEAKER[role]];

  const body = item.body;
  body.replaceChildren();
  const content = displayText(item);
  let said = ''; // the text announced when a reply is finished
  if (role === 'user') {
    body.textContent = content;
  } else if (failedReply && cfg.lang !== SERVER_LANG) {
    // The stored text of a failed reply is the server's (CHAT_FAILED_REPLY_TEXT...): say it
    // in the visitor's language instead.
    body.textContent = said = replyErrorText(m, T);
  } else if (busy && !content) {
    const typing = h('span', 'cd-typing');
    for (let i = 0; i < 3; i++) typing.appendChild(h('span', 'cd-dot'));
    const label = h('span', 'cd-sr');
    label.textContent = T.typing;
    typing.appendChild(label);
    body.appendChild(typing);
  } else {
    const text = content || (failedReply ? item.errorText || T.failedReplyFallback : '');
    const tree = parseMarkdown(text, { imageLabel: T.image });
    appendTree(body, tree);
    said = textOf(tree);
    if (failedReply && content && item.errorText && !content.includes(item.errorText)) {
      // partial streamed text followed by an error event (the final message replaces both)
      const p = h('p');
      p.textContent = item.errorText;
      body.appendChild(p);
      said += '\n' + item.errorText;
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
    // A person, not the bot: their name, and what they are.
    const who = h('span', 'cd-sender');
    who.textContent = staffName(m, T);
    meta.appendChild(who);
    if (m.author_name) {
      const what = h('span', 'cd-sender-role');
      what.textContent = T.staff;
      meta.appendChild(what);
    }
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
    // Clicks on these buttons reach the log's handler (panel.js).
    if (item.local.editable) {
      const btn = h('button', 'cd-edit', { type: 'button' });
      btn.textContent = T.edit;
      meta.appendChild(btn);
    }
    if (item.local.retryable) {
      const btn = h('button', 'cd-retry', { type: 'button' });
      btn.textContent = T.retry;
      const wait = item.local.retryAt - Date.now();
      if (wait > 0) {
        btn.disabled = true;
        setTimeout(() => scheduleRender(item), wait + 50);
      }
      meta.appendChild(btn);
    }
  }

  for (const control of handoffControls(item)) meta.appendChild(control);

  // Announce a message once, when it is finished, if it happened while the visitor was here
  // (item.live, see conversation.js); history loaded at start is not read out.
  if (!busy && role !== 'user' && item.live && !item.announced && !item.el.hidden) {
    item.announced = true;
    const who = role === 'staff' ? staffName(m, T) + ':' : T[SPEAKER[role]];
    announce(who + ' ' + said.trim());
  }
}
