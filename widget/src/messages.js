// Message bookkeeping without DOM or network: statuses, merging snapshots, matching server
// messages to optimistic bubbles, what text to show. Items are plain objects (see
// conversation.js createItem); these functions only read or update their fields.

// pending -> streaming -> completed | failed. A snapshot never moves a message backwards.
export const RANK = { pending: 0, streaming: 1, completed: 2, failed: 2 };
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

// What an unsent message says, and whether Retry may help.
export function describeSendError(e, T) {
  if (e.status === 429) return { note: T.rateLimited, retryable: true };
  if (e.status === 413 || e.code === 'payload_too_large') return { note: T.tooLong, retryable: false };
  if (e.status >= 400 && e.status < 500 && !e.session) {
    const fieldMsg = e.fields && e.fields.content && e.fields.content[0];
    return { note: String(fieldMsg || e.message || T.invalid), retryable: false };
  }
  return { note: T.notSent, retryable: true }; // network error, 5xx, session unavailable
}
