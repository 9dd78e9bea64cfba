// Tool use shown on a reply: "Looking up your order…" while a tool runs, and the question
// a side effect waits on ("Cancel order 1234?") with Confirm / Cancel.
//
// applyToolStatus(item, data) folds a `tool_status` event into item.tools (pure: see
// widget/test/tools.test.mjs); decideToolCall() sends the customer's answer. After a reload
// the questions still open come from the API (fetchAwaitingToolCalls) as the same events.

import { ApiError, enc, request } from './api.js';
import { isFinal } from './messages.js';
import { state } from './state.js';

const KNOWN = new Set(['running', 'done', 'failed', 'needs_confirmation', 'cancelled']);

// item.tools: [{ key, tool, status, label, callId, decision }] in arrival order.
export function applyToolStatus(item, data) {
  if (!data || typeof data.tool !== 'string' || !KNOWN.has(data.status)) return false;
  const callId = data.call_id != null ? String(data.call_id) : null;
  const key = callId || data.tool;
  const tools = item.tools || (item.tools = []);
  let entry = tools.find((t) => t.key === key);
  if (!entry) {
    // The server listed this finished reply's open questions (restoreQuestions): a question
    // it did not list was answered already, and this is the stream replaying it.
    if (item.toolsSettled && data.status === 'needs_confirmation') return false;
    entry = { key, tool: data.tool, status: data.status, label: '', callId, decision: null };
    tools.push(entry);
  }
  if (entry.decision && data.status === 'needs_confirmation') return false; // a replay
  entry.status = data.status;
  if (typeof data.label === 'string' && data.label) entry.label = data.label;
  return true;
}

// What the reply shows for its tools: while it is being written, the latest tool's status
// line ("Looking up your order…"); always, the questions a side effect waits on.
export function visibleTools(item, busy) {
  const tools = item.tools || [];
  const questions = tools.filter((t) => t.status === 'needs_confirmation');
  const working = tools.filter((t) => t.status !== 'needs_confirmation' && t.status !== 'cancelled');
  const line = busy && working.length ? [working[working.length - 1]] : [];
  return line.concat(questions);
}

// The server's list of the questions still open (GET .../tool-calls/?status=awaiting_confirmation)
// as the `tool_status` events that first showed them, so a reloaded page puts Confirm /
// Cancel back through applyToolStatus, like the live event did. Malformed rows are dropped.
export function awaitingAsEvents(data) {
  const rows = (data && Array.isArray(data.results) && data.results) || [];
  return rows
    .filter((r) => r && r.id != null && r.reply_id != null && typeof r.tool === 'string' && r.status === 'awaiting_confirmation')
    .map((r) => ({
      reply_id: String(r.reply_id),
      tool: r.tool,
      status: 'needs_confirmation',
      label: typeof r.label === 'string' ? r.label : '',
      call_id: String(r.id),
    }));
}

// Put the listed questions back on the replies that asked (items: the conversation's).
// Every reply that had finished when the history loaded is settled by the list, so a
// question the stream replays afterwards for a call already answered does not come back
// (SSE_REPLAY_SECONDS). Returns the items that changed.
export function restoreQuestions(items, events) {
  const replies = new Map();
  for (const item of items) if (item.id && item.msg.role === 'assistant') replies.set(item.id, item);
  const changed = new Set();
  for (const data of events) {
    const item = replies.get(data.reply_id);
    if (item && applyToolStatus(item, data)) changed.add(item);
  }
  for (const item of replies.values()) if (isFinal(item.msg.status)) item.toolsSettled = true;
  return Array.from(changed);
}

export async function fetchAwaitingToolCalls(convId) {
  const path = '/conversations/' + enc(convId) + '/tool-calls/?status=awaiting_confirmation';
  return awaitingAsEvents(await request('GET', path));
}

export async function decideToolCall(item, entry, confirm) {
  if (!entry || !entry.callId || entry.decision || !state.conversationId) return;
  entry.decision = confirm ? 'confirming' : 'cancelling';
  const path =
    '/conversations/' + enc(state.conversationId) + '/tool-calls/' + enc(entry.callId) + (confirm ? '/confirm/' : '/cancel/');
  try {
    await request('POST', path, {});
    entry.decision = confirm ? 'confirmed' : 'cancelled';
  } catch (e) {
    // 409: already decided (another tab, a double click): the buttons go either way.
    entry.decision = e instanceof ApiError && e.status === 409 ? 'decided' : null;
  }
}
