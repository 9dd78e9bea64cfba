// The handoff's and feedback's controls inside message bubbles (see ../handoff.js):
// "Talk to a person" under a reply the server offered it for, thumbs under bot answers,
// the email form under a "nobody can pick up" line, CSAT under the "closed" line.

import { leaveEmail, looksLikeEmail, requestPerson, sendFeedback } from '../handoff.js';
import { fmt } from '../i18n.js';
import { isRateable } from '../messages.js';
import { cfg, state } from '../state.js';
import { h } from './dom.js';
import { announce } from './panel.js';

function button(cls, text, attrs) {
  const b = h('button', cls, Object.assign({ type: 'button' }, attrs || {}));
  b.textContent = text;
  return b;
}

function commentBox(item) {
  const T = cfg.T;
  const row = h('div', 'cd-comment');
  const input = h('input', 'cd-comment-input', { type: 'text', 'aria-label': T.commentLabel, placeholder: T.commentLabel, maxlength: '2000' });
  if (item.feedback.draft) input.value = item.feedback.draft;
  input.addEventListener('input', () => (item.feedback.draft = input.value));
  row.append(input, button('cd-comment-send', T.commentSend));
  return row;
}

function thumbs(item, kind) {
  const T = cfg.T;
  const fb = item.feedback || (item.feedback = { vote: '', sent: false, draft: '', kind });
  const row = h('div', 'cd-votes', { role: 'group', 'aria-label': kind === 'csat' ? T.csatQuestion : T.helpful });
  const up = button('cd-vote cd-vote-up', kind === 'csat' ? T.csatUp : T.helpful, { 'data-vote': 'up', 'aria-pressed': String(fb.vote === 'up') });
  const down = button('cd-vote cd-vote-down', kind === 'csat' ? T.csatDown : T.notHelpful, { 'data-vote': 'down', 'aria-pressed': String(fb.vote === 'down') });
  up.prepend('👍 ');
  down.prepend('👎 ');
  row.append(up, down);
  const out = [row];
  if (fb.vote && !fb.sent) out.push(commentBox(item));
  if (fb.sent) {
    const done = h('span', 'cd-note');
    done.textContent = T.thanksFeedback;
    out.push(done);
  }
  return out;
}

function emailForm(item) {
  const T = cfg.T;
  const line = item.line;
  if (line.emailSavedTo) {
    const done = h('span', 'cd-note');
    done.textContent = fmt(T, 'emailSaved', { email: line.emailSavedTo });
    return [done];
  }
  const row = h('div', 'cd-email');
  const input = h('input', 'cd-email-input', { type: 'email', 'aria-label': T.emailLabel, placeholder: T.emailLabel, autocomplete: 'email' });
  if (line.draft) input.value = line.draft;
  input.addEventListener('input', () => (line.draft = input.value));
  row.append(input, button('cd-email-send', T.emailSend));
  const out = [row];
  if (line.error) {
    const err = h('span', 'cd-note cd-email-error');
    err.textContent = line.error;
    out.push(err);
  }
  return out;
}

// Extra controls for a bubble, appended to its meta row by view/message.js.
export function handoffControls(item) {
  const T = cfg.T;
  const m = item.msg;
  const out = [];
  if (m.role === 'assistant' && m.handoff_offered && state.handoffEnabled && state.handling === 'bot') {
    out.push(button('cd-handoff cd-handoff-offer', T.talkToPerson));
  }
  if (item.id && isRateable(m)) out.push(...thumbs(item, 'helpfulness'));
  if (item.line && item.line.askEmail) out.push(...emailForm(item));
  if (item.line && item.line.csatFor) out.push(...thumbs(item, 'csat'));
  return out;
}

// Clicks inside the log (delegated by view/panel.js). Returns true when handled.
export function handoffClick(target, item, rerender) {
  const T = cfg.T;
  const btn = target.closest && target.closest('.cd-handoff, .cd-vote, .cd-comment-send, .cd-email-send');
  if (!btn) return false;
  if (btn.classList.contains('cd-handoff')) {
    btn.disabled = true;
    requestPerson().finally(() => (btn.disabled = false));
    return true;
  }
  if (!item) return true;
  if (btn.classList.contains('cd-email-send')) {
    const value = (item.line.draft || '').trim();
    if (!looksLikeEmail(value)) {
      item.line.error = T.emailInvalid;
      rerender(item);
      return true;
    }
    leaveEmail(value)
      .then(() => {
        item.line.emailSavedTo = value;
        item.line.error = '';
        announce(fmt(T, 'emailSaved', { email: value }));
      })
      .catch(() => (item.line.error = T.emailInvalid))
      .finally(() => rerender(item));
    return true;
  }
  const fb = item.feedback;
  const convId = item.line && item.line.csatFor ? item.line.csatFor : state.conversationId;
  if (!fb || !convId) return true;
  const kind = item.line && item.line.csatFor ? 'csat' : 'helpfulness';
  const payload = { convId, kind, vote: '', messageId: kind === 'helpfulness' ? item.id : null, comment: '' };
  if (btn.classList.contains('cd-vote')) {
    fb.vote = btn.getAttribute('data-vote');
    fb.sent = false;
    payload.vote = fb.vote;
  } else {
    payload.vote = fb.vote;
    payload.comment = (fb.draft || '').trim();
    fb.sent = true;
  }
  sendFeedback(payload)
    .then(() => {
      if (fb.sent) announce(T.thanksFeedback);
    })
    .catch((e) => console.warn('[chatdesk]', e))
    .finally(() => rerender(item));
  rerender(item);
  return true;
}
