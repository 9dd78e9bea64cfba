// Human handoff on the customer's side (docs/handoff.md): the "Talk to a person" control,
// the system lines ("Waiting for an agent…", "Alex joined", "Alex left; the assistant is
// back"), the email form when nobody can pick up, and feedback (thumbs under a bot answer,
// CSAT when the conversation is closed). Lines come from live events (handoff, agent_joined,
// agent_left, closed) and, on a later visit, from the conversation's handling.

import { enc, request } from './api.js';
import { fmt } from './i18n.js';
import { cfg, state } from './state.js';

// ------------------------------------------------------------------ pure parts

// "Estimated wait: about 3 min." from seconds; '' when unknown.
export function waitText(seconds, T) {
  if (typeof seconds !== 'number' || !isFinite(seconds) || seconds < 0) return '';
  if (seconds < 60) return T.estimatedWaitShort;
  return fmt(T, 'estimatedWait', { n: Math.round(seconds / 60) });
}

// What the customer is told when the handling changes: { text, askEmail } or null (no line).
export function handlingLine(data, T) {
  if (!data || typeof data !== 'object') return null;
  if (data.state === 'waiting') {
    const wait = waitText(data.estimated_wait_seconds, T);
    return { text: wait ? T.waitingForAgent + ' ' + wait : T.waitingForAgent, askEmail: false };
  }
  if (data.state === 'followup') {
    return { text: data.reason === 'outside_hours' ? T.outsideHours : T.noAgent, askEmail: data.email_requested !== false };
  }
  return null; // human: agent_joined says who; bot: agent_left or assistantBack
}

export function agentLine(type, data, T) {
  const name = data && typeof data.agent_name === 'string' && data.agent_name.trim() ? data.agent_name.trim() : T.staff;
  return fmt(T, type === 'agent_joined' ? 'agentJoined' : 'agentLeft', { name });
}

// The server time (ms) an event id (`<ms>-<seq>`, Redis stream ids) was published at; 0 if unknown.
export function eventMs(id) {
  const ms = parseInt(String(id || '').split('-')[0], 10);
  return Number.isFinite(ms) ? ms : 0;
}

// A stream without Last-Event-ID replays recent events; handoff events already reflected
// in the conversation's handling as restored (published before its updated_at) are old news.
export function isOldNews(eventId, handlingSinceMs) {
  const ms = eventMs(eventId);
  return !!handlingSinceMs && !!ms && ms <= handlingSinceMs;
}

export const looksLikeEmail = (v) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(String(v || '').trim());

// ------------------------------------------------------------------ state changes

// Set by conversation.js (no import cycle): addLine(text, extra) appends a system line,
// refresh() redraws the handoff controls, ensureConversation/connect as there.
export const hooks = { addLine: null, refresh: null, ensureConversation: null, connect: null };

// Apply a new handling; `line` says whether to tell the customer (not on a quiet restore).
export function setHandling(data, { line = true } = {}) {
  if (!data || typeof data.state !== 'string') return;
  const prev = state.handling;
  state.handling = data.state;
  if (hooks.refresh) hooks.refresh();
  if (!line || prev === data.state) return;
  if (data.state === 'bot' && prev !== 'human') {
    hooks.addLine(cfg.T.assistantBack);
    return;
  }
  const l = handlingLine(data, cfg.T);
  if (l) hooks.addLine(l.text, { askEmail: l.askEmail });
}

export async function requestPerson() {
  const gen = state.convGen;
  const convId = await hooks.ensureConversation(gen);
  if (gen !== state.convGen) return;
  hooks.connect(convId);
  try {
    const res = await request('POST', '/conversations/' + enc(convId) + '/handoff/', {});
    if (gen !== state.convGen) return;
    setHandling({ state: res.handling, reason: 'customer_request', estimated_wait_seconds: res.estimated_wait_seconds });
  } catch (e) {
    hooks.addLine(cfg.T.handoffFailed);
  }
}

export async function leaveEmail(email) {
  const convId = state.conversationId;
  if (!convId) return false;
  await request('POST', '/conversations/' + enc(convId) + '/followup-email/', { email: String(email).trim() });
  return true;
}

// kind: 'helpfulness' (messageId set) or 'csat'.
export async function sendFeedback({ convId, kind, vote, messageId, comment }) {
  const body = { kind, vote };
  if (messageId) body.message = messageId;
  if (comment) body.comment = comment;
  return request('POST', '/conversations/' + enc(convId) + '/feedback/', body);
}
