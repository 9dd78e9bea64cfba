// The conversation on screen: its id, its items (one per message bubble), the live events
// that update them, history on start and polling when the stream is down.
//
// An item is { key, id, msg (the server's message as last seen), local (an unsent message's
// send state), placeholder (our pending reply before its id is known), streamed (text built
// from delta events), errorText, live (it changed while the visitor was here: announce it
// when finished), el/speaker/body/meta (view/message.js), touched }.

import { ApiError, enc, ensureSession, request } from './api.js';
import { backgroundError } from './availability.js';
import { agentLine, hooks as handoffHooks, isOldNews, setHandling } from './handoff.js';
import { findAdoptable, isFinal, mergeInto, newReplyMsg, rank, RANK } from './messages.js';
import { cfg, state, ui } from './state.js';
import { closeStream, openStream } from './stream.js';
import { applyToolStatus, fetchAwaitingToolCalls, restoreQuestions } from './tools.js';
import { uuid4 } from './uuid.js';
import { createItemEl, scheduleRender, unschedule, unscheduleAll } from './view/message.js';
import { showUnread, updateEmpty, updateHandoffBar, updateSendButton } from './view/panel.js';

// ------------------------------------------------------------------ conversation id

export function setConversation(id) {
  state.conversationId = String(id);
  cfg.store.set('conversation', state.conversationId);
}

export function forgetConversation() {
  closeStream();
  state.orphans.clear();
  state.conversationId = null;
  cfg.store.del('conversation');
}

export function ensureConversation(gen) {
  if (state.conversationId) return Promise.resolve(state.conversationId);
  if (!state.convPromise) {
    state.convPromise = request('POST', '/conversations/', {})
      .then((conv) => {
        if (!conv || conv.id == null) throw new ApiError(0, 'bad_conversation_response', '');
        if (gen === state.convGen) setConversation(conv.id);
        return String(conv.id);
      })
      .finally(() => {
        state.convPromise = null;
      });
  }
  return state.convPromise;
}

// A verified customer on a new device picks up their most recent open conversation.
async function adoptLatestConversation() {
  if (state.conversationId || !state.identified) return;
  const gen = state.convGen;
  const data = await request('GET', '/conversations/?limit=1');
  const latest = data && data.results && data.results[0];
  if (latest && latest.status === 'open' && gen === state.convGen && !state.conversationId) {
    setConversation(latest.id);
  }
}

// Drop everything on screen and start afresh (the next message creates a conversation).
export function clearConversation() {
  state.convGen++;
  forgetConversation();
  state.handling = 'bot';
  state.handlingSince = 0;
  updateHandoffBar();
  for (const it of state.items) it.el.remove();
  state.items = [];
  state.byId.clear();
  unscheduleAll();
  updateEmpty();
}

// ------------------------------------------------------------------ items

export function createItem(msg, extra) {
  const item = Object.assign(
    {
      key: uuid4(),
      id: msg.id != null ? String(msg.id) : null,
      msg: Object.assign({ content: '', status: 'completed' }, msg),
      local: null,
      placeholder: false,
      errorText: '',
      streamed: '', // text built from delta events only
      live: false,
      touched: Date.now(),
    },
    createItemEl(),
    extra || {}
  );
  if (item.id) {
    state.byId.set(item.id, item);
    claimOrphan(item);
  }
  return item;
}

export function appendItem(item) {
  state.items.push(item);
  if (state.mounted) ui.log.appendChild(item.el);
  updateEmpty();
  scheduleRender(item);
  if (!state.isOpen && item.msg.role !== 'user') showUnread();
}

export function removeItem(item) {
  const i = state.items.indexOf(item);
  if (i !== -1) state.items.splice(i, 1);
  if (item.id && state.byId.get(item.id) === item) state.byId.delete(item.id);
  unschedule(item);
  item.el.remove();
  updateEmpty();
}

export function itemForElement(el) {
  return state.items.find((it) => it.el === el) || null;
}

export function bindId(item, id) {
  item.id = String(id);
  state.byId.set(item.id, item);
  claimOrphan(item);
}

// A message not finished yet that changes now will be announced when it is (view/message.js);
// one already finished (history, a replayed event) will not.
function markLive(item) {
  if (!isFinal(item.msg.status)) item.live = true;
}

// `live`: the message comes from the stream or polling, not from the history loaded at start.
export function upsertMessage(msg, live) {
  if (!msg || typeof msg !== 'object' || msg.id == null) return null;
  if (msg.conversation != null && state.conversationId && String(msg.conversation) !== state.conversationId) {
    return null;
  }
  const id = String(msg.id);
  let item = state.byId.get(id);
  if (!item) {
    item = findAdoptable(state.items, msg);
    if (item) bindId(item, id);
  }
  if (item) {
    if (live) markLive(item);
    mergeInto(item, msg);
    scheduleRender(item);
    if (!state.isOpen && msg.role !== 'user' && rank(msg.status) === 2) showUnread();
  } else {
    item = createItem(msg, { live: !!live });
    appendItem(item);
  }
  return item;
}

// A line of the widget's own (not a stored message): "Waiting for an agent…", "Alex joined".
// `line` may ask for the customer's email ({ askEmail }) or their rating ({ csatFor }).
export function addSystemLine(text, line) {
  const item = createItem(
    { role: 'system', content: text, status: 'completed', created_at: new Date().toISOString() },
    { line: Object.assign({}, line || {}), live: true }
  );
  appendItem(item);
  return item;
}

Object.assign(handoffHooks, {
  addLine: addSystemLine,
  refresh: updateHandoffBar,
  ensureConversation,
  connect: (id) => connect(id),
});

// ------------------------------------------------------------------ orphans
//
// Stream events for a reply id we do not know yet. While a send is in flight they may be
// for our own reply (its id arrives with the POST response), so they are held as an
// "orphan" and applied when the id gets bound; otherwise a new bubble is created at once.

function sendInFlight() {
  return state.items.some((it) => it.placeholder && !it.id);
}

function replyTarget(replyId) {
  const id = String(replyId);
  const known = state.byId.get(id);
  if (known) {
    markLive(known);
    return known;
  }
  if (sendInFlight()) {
    let o = state.orphans.get(id);
    if (!o) {
      o = { orphan: true, id, msg: newReplyMsg(id), streamed: '', errorText: '' };
      state.orphans.set(id, o);
    }
    return o;
  }
  const item = createItem(newReplyMsg(id), { live: true });
  appendItem(item);
  return item;
}

function touch(target) {
  if (!target.orphan) scheduleRender(target);
}

function claimOrphan(item) {
  const o = state.orphans.get(item.id);
  if (!o) return;
  state.orphans.delete(item.id);
  if (o.streamed.length > item.streamed.length) item.streamed = o.streamed;
  if (rank(o.msg.status) > rank(item.msg.status)) item.msg.status = o.msg.status;
  if (o.msg.error_code) item.msg.error_code = o.msg.error_code;
  if (o.errorText) item.errorText = o.errorText;
}

// After a send settles: events held for ids that turned out not to be ours get a bubble.
export function releaseOrphans() {
  if (sendInFlight()) return;
  for (const o of Array.from(state.orphans.values())) {
    if (state.byId.has(o.id)) continue;
    const item = createItem(newReplyMsg(o.id), { live: true });
    appendItem(item);
  }
  state.orphans.clear();
}

// ------------------------------------------------------------------ live events

const streamHandlers = {
  onEvent: handleEvent,
  onGone(s) {
    if (state.conversationId === s.convId) forgetConversation();
  },
};

export function connect(convId) {
  return openStream(convId, streamHandlers);
}

const HANDOFF_EVENTS = new Set(['handoff', 'agent_joined', 'agent_left', 'closed']);

function handleEvent(s, type, raw) {
  if (s.closed || s !== state.stream || s.convId !== state.conversationId) return;
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
    upsertMessage(data, true);
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
  } else if (type === 'tool_status') {
    if (data.reply_id == null) return;
    const item = replyTarget(data.reply_id);
    if (applyToolStatus(item, data)) touch(item);
  } else if (HANDOFF_EVENTS.has(type) && isOldNews(s.lastEventId, state.handlingSince)) {
    return; // replayed, and already shown by restore()
  } else if (type === 'handoff') {
    setHandling(data);
  } else if (type === 'agent_joined' || type === 'agent_left') {
    state.handling = type === 'agent_joined' ? 'human' : 'bot';
    updateHandoffBar();
    addSystemLine(agentLine(type, data, cfg.T));
  } else if (type === 'closed') {
    state.handling = 'bot';
    updateHandoffBar();
    addSystemLine(cfg.T.csatQuestion, { csatFor: s.convId });
  } else if (type === 'error') {
    if (data.reply_id == null) return;
    const item = replyTarget(data.reply_id);
    item.msg.status = 'failed';
    if (data.code) item.msg.error_code = String(data.code);
    if (data.message) item.errorText = String(data.message);
    touch(item);
  }
}

// ------------------------------------------------------------------ history & polling

async function fetchMessages(convId, after, gen, live) {
  for (let page = 0; page < 50; page++) {
    const q = '?limit=100' + (after ? '&after=' + enc(after) : '');
    const data = await request('GET', '/conversations/' + enc(convId) + '/messages/' + q);
    if (gen !== state.convGen || state.conversationId !== convId) return;
    const results = (data && Array.isArray(data.results) && data.results) || [];
    for (const m of results) upsertMessage(m, live);
    if (!data || !data.has_more || !results.length) return;
    after = results[results.length - 1].id;
  }
}

async function restore() {
  const id = state.conversationId;
  if (!id) return;
  const gen = state.convGen;
  let conv;
  try {
    conv = await request('GET', '/conversations/' + enc(id) + '/');
  } catch (e) {
    if (e.status === 404) {
      if (gen === state.convGen && state.conversationId === id) forgetConversation();
      return;
    }
    throw e;
  }
  if (gen !== state.convGen || state.conversationId !== id) return;
  if (conv && conv.status === 'closed') {
    forgetConversation();
    return;
  }
  await fetchMessages(id, null, gen, false);
  if (gen !== state.convGen || state.conversationId !== id) return;
  await restoreToolQuestions(id, gen);
  if (gen !== state.convGen || state.conversationId !== id) return;
  // Where the handoff stands on a later visit: tell the customer if they still wait.
  if (conv && typeof conv.handling === 'string') {
    state.handling = 'bot';
    state.handlingSince = Date.parse(conv.updated_at) || 0;
    setHandling({ state: conv.handling, reason: '' }, { line: conv.handling !== 'human' });
  }
  connect(id);
}

// The questions a side effect still waits on ("Cancel order 1234?"), back on the replies that
// asked, with Confirm / Cancel: the live event that showed them is gone after a reload.
async function restoreToolQuestions(convId, gen) {
  let events;
  try {
    events = await fetchAwaitingToolCalls(convId);
  } catch (e) {
    console.warn('[chatdesk] pending confirmations', e); // the history stays usable without them
    return;
  }
  if (gen !== state.convGen || state.conversationId !== convId) return;
  for (const item of restoreQuestions(state.items, events)) touch(item);
}

// First open: session, the stored (or a verified customer's latest) conversation, its history.
export function start() {
  if (state.started) return;
  state.started = true;
  // Sending waits until the stored conversation's history is in, so it stays in order.
  state.restoring = !!state.conversationId || !!cfg.userId; // a verified customer may have history elsewhere
  updateSendButton();
  ensureSession()
    .then(() => adoptLatestConversation())
    .then(() => restore())
    .catch(backgroundError)
    .finally(() => {
      state.restoring = false;
      updateSendButton();
    });
  setInterval(watchdog, 3000);
}

// Polling fallback: if a reply is unfinished and the stream is down (or silent for a while),
// fetch the messages after the one preceding that reply.
function watchdog() {
  const s = state.stream;
  if (!state.conversationId || !s) return;
  const now = Date.now();
  if (s.connected && now - s.lastActivity > 60000 && s.ctrl) {
    s.ctrl.abort(); // half-open connection: no bytes (not even heartbeats) for a minute
  }
  const items = state.items;
  const idx = items.findIndex((it) => it.id && it.msg.role !== 'user' && rank(it.msg.status) < 2);
  if (idx === -1) return;
  const quiet = now - items[idx].touched > 15000;
  if (s.connected && !quiet) return;
  poll(idx);
}

async function poll(idx) {
  if (state.polling) return;
  state.polling = true;
  const gen = state.convGen;
  const convId = state.conversationId;
  try {
    let after = null;
    for (let k = idx - 1; k >= 0; k--) {
      if (state.items[k].id) {
        after = state.items[k].id;
        break;
      }
    }
    await fetchMessages(convId, after, gen, true);
  } catch (e) {
    if (e && e.status === 404 && gen === state.convGen && state.conversationId === convId) forgetConversation();
  } finally {
    state.polling = false;
  }
}
