// Sending: an optimistic bubble at once, then (one send at a time, in order) the
// conversation, the stream, the POST. An unsent message keeps its client_message_id, so a
// retry can never store it twice; one the server refused can be edited (back into the
// composer, sent anew with a new id).

import { enc, request } from './api.js';
import { isAvailabilityError, setUnavailable } from './availability.js';
import {
  appendItem,
  bindId,
  connect,
  createItem,
  ensureConversation,
  forgetConversation,
  releaseOrphans,
  removeItem,
} from './conversation.js';
import { countChars, describeSendError, mergeInto } from './messages.js';
import { cfg, state, ui } from './state.js';
import { streamReady } from './stream.js';
import { uuid4 } from './uuid.js';
import { scheduleRender } from './view/message.js';
import { announce, autosize, setSending, updateSendButton } from './view/panel.js';

export function submit() {
  if (!state.mounted || state.sending || state.restoring) return;
  const text = ui.input.value;
  if (!text.trim() || countChars(text) > state.maxChars) return; // the counter says why
  ui.input.value = '';
  autosize();
  updateSendButton();
  const item = createItem(
    { role: 'user', content: text, status: 'pending', created_at: new Date().toISOString() },
    { local: { cmid: uuid4(), state: 'sending', note: '', retryable: false, editable: false, retryAt: 0 } }
  );
  state.stick = true;
  appendItem(item);
  queueSend(item);
}

export function retry(item) {
  if (!item || !item.local || item.local.state !== 'failed') return;
  item.local.state = 'sending';
  state.stick = true;
  scheduleRender(item);
  queueSend(item);
}

// Back into the composer (before a draft already there, nothing is lost), bubble removed.
export function edit(item) {
  if (!item || !item.local || item.local.state !== 'failed' || !item.local.editable) return;
  const draft = ui.input.value;
  ui.input.value = draft.trim() ? item.msg.content + '\n\n' + draft : item.msg.content;
  removeItem(item);
  autosize();
  updateSendButton();
  if (ui.input.disabled) {
    state.refocusAfterSend = true;
  } else {
    ui.input.focus();
    const end = item.msg.content.length;
    ui.input.setSelectionRange(end, end);
  }
}

function queueSend(item) {
  state.inflight++;
  setSending(true);
  state.sendChain = state.sendChain
    .then(() => doSend(item))
    .catch((e) => console.warn('[chatdesk]', e))
    .then(() => {
      state.inflight--;
      if (!state.inflight) setSending(false);
    });
}

async function postMessage(convId, item) {
  return request('POST', '/conversations/' + enc(convId) + '/messages/', {
    content: item.msg.content,
    client_message_id: item.local.cmid,
  });
}

async function doSend(item) {
  const gen = state.convGen;
  if (!state.items.includes(item)) return; // cleared by "new conversation" meanwhile
  item.local.state = 'sending';
  scheduleRender(item);
  // No "typing" bubble while a person handles the conversation: the bot will not answer.
  const placeholder = createItem(
    { role: 'assistant', content: '', status: 'pending', created_at: new Date().toISOString() },
    { placeholder: true, forUser: item, live: true }
  );
  if (state.handling === 'bot') appendItem(placeholder);
  try {
    let convId = await ensureConversation(gen);
    if (gen !== state.convGen) return;
    await streamReady(connect(convId), 2000);
    let data;
    try {
      data = await postMessage(convId, item);
    } catch (e) {
      if (e.status !== 404 && e.status !== 409) throw e;
      // The conversation is gone or closed: start a new one and send there, once.
      if (gen !== state.convGen) return;
      if (state.conversationId === convId) forgetConversation();
      convId = await ensureConversation(gen);
      if (gen !== state.convGen) return;
      await streamReady(connect(convId), 2000);
      data = await postMessage(convId, item);
    }
    if (gen !== state.convGen) return;
    item.local.state = null;
    if (data && data.message) {
      const existing = state.byId.get(String(data.message.id));
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
      const existing = state.byId.get(rid);
      if (existing && existing !== placeholder) {
        removeItem(placeholder);
        mergeInto(existing, data.reply);
        scheduleRender(existing);
      } else {
        if (!state.items.includes(placeholder)) appendItem(placeholder); // the bot answers after all
        if (!placeholder.id) bindId(placeholder, rid);
        mergeInto(placeholder, data.reply);
        scheduleRender(placeholder);
      }
    } else if (!placeholder.id) {
      removeItem(placeholder);
    }
  } catch (e) {
    if (gen !== state.convGen) return;
    if (!placeholder.id) removeItem(placeholder);
    const d = describeSendError(e, cfg.T, { tooLong: countChars(item.msg.content) > state.maxChars });
    item.local.state = 'failed';
    item.local.note = d.note;
    item.local.retryable = d.retryable;
    item.local.editable = d.editable;
    item.local.retryAt = e.status === 429 && e.retryAfter ? Date.now() + Math.min(e.retryAfter, 60) * 1000 : 0;
    if (isAvailabilityError(e)) setUnavailable(true);
    scheduleRender(item);
    announce(d.note);
  } finally {
    if (gen === state.convGen) releaseOrphans();
  }
}
