// Tool use shown on a reply: "Looking up your order…" while a tool runs, and the question
// a side effect waits on ("Cancel order 1234?") with Confirm / Cancel.
//
// applyToolStatus(item, data) folds a `tool_status` event into item.tools (pure: see
// widget/test/tools.test.mjs); decideToolCall() sends the customer's answer.

import { ApiError, enc, request } from './api.js';
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
