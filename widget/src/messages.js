// Message bookkeeping without DOM or network: statuses, merging snapshots, matching server
// messages to optimistic bubbles, what text to show. Items are plain objects (see
// conversation.js createItem); these functions only read or update their fields.

// pending -> streaming -> completed | failed | deferred (a person answers instead; the
// reply stays empty and hidden). A snapshot never moves a message backwards.
export const RANK = { pending: 0, streaming: 1, completed: 2, failed: 2, deferred: 2 };
export const rank = (status) => (status in RANK ? RANK[status] : 2);
export const isFinal = (status) => rank(status) === 2;
export const ROLES = new Set(['user', 'assistant', 'staff', 'system']);

export function newReplyMsg(id) {
  return { id, role: 'assistant', content: '', status: 'pending', created_at: new Date().toISOString() };
}

// Merge a server snapshot of the message into the item.
export function mergeInto(item, msg) {
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

// The optimistic bubble (no id yet) that a server message we have not seen stands for.
export function findAdoptable(items, msg) {
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

// Snapshots (history, polling, POST responses) and deltas are kept apart: the stream may
// replay a reply's deltas from its start (fresh connection without Last-Event-ID) while the
// snapshot already holds part of the text. Until the final message, show whichever is
// longer; both are prefixes of the same reply, so nothing is duplicated.
export function displayText(item) {
  const snap = String(item.msg.content || '');
  if (rank(item.msg.status) === 2 || item.msg.role === 'user') return snap;
  return item.streamed.length >= snap.length ? item.streamed : snap;
}

// Characters as the server counts them (Python's len of the trimmed text): code points, so an
// emoji is one character, not two UTF-16 units.
export function countChars(text) {
  return Array.from(String(text || '').trim()).length;
}

// What an unsent message says, in the widget's words for the error's code (never the
// server's message), and what the visitor can do: Retry (the same client_message_id, for
// failures where the server may have stored it or asked us to wait) and/or Edit (the server
// refused it: it was not stored, so it can come back to the composer and be sent anew).
export function describeSendError(e, T, { tooLong = false } = {}) {
  if (e.session || !e.status || e.status >= 500) {
    return { note: T.notSent, retryable: true, editable: false }; // network error, 5xx, no session
  }
  if (e.status === 429) {
    const note = e.code === 'too_many_pending_replies' ? T.tooManyPending : T.rateLimited;
    return { note, retryable: true, editable: true };
  }
  if (e.status === 413 || e.code === 'payload_too_large' || tooLong) {
    return { note: T.tooLong, retryable: false, editable: true };
  }
  return { note: T.invalid, retryable: false, editable: true }; // validation_error and other 4xx
}

// A failed reply in the widget's words, by its error code.
export function replyErrorText(msg, T) {
  return msg.error_code === 'budget_exceeded' ? T.budgetExceeded : T.failedReplyFallback;
}

// The screen-reader label that says who wrote a message (the string's key in i18n.js).
export const SPEAKER = { user: 'youSaid', assistant: 'assistantSaid', staff: 'staffSaid', system: 'systemSaid' };

// A bot answer the customer may rate (thumbs up/down): finished, with text, not an error.
export function isRateable(msg) {
  return msg.role === 'assistant' && msg.status === 'completed' && !!String(msg.content || '').trim() && !msg.merged_into;
}

// Who wrote a staff message, as the customer sees it.
export function staffName(msg, T) {
  return String(msg.author_name || '').trim() || T.staff;
}
