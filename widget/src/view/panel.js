// The widget's frame: launcher, panel (header, banner, log, composer) in a shadow root.
// buildUi(actions) mounts it and wires its controls to `actions` (main.js).

import CSS from '../styles.css';
import { hooksAfterSession } from '../api.js';
import { fmt } from '../i18n.js';
import { countChars } from '../messages.js';
import { cfg, state, ui } from '../state.js';
import { h, icon } from './dom.js';

// At phone width the panel covers the page: it is then a modal dialog (focus stays inside).
const PHONE = '(max-width: 480px)';
const FOCUSABLE = 'button:not([disabled]), [href], textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

export function buildUi(actions) {
  const T = cfg.T;
  const host = document.createElement('div');
  host.id = 'chatdesk-widget';
  host.setAttribute('data-chatdesk', '');
  const shadow = host.attachShadow({ mode: 'open' });
  let styled = false;
  try {
    if ('adoptedStyleSheets' in shadow && typeof CSSStyleSheet === 'function') {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      shadow.adoptedStyleSheets = [sheet];
      styled = true;
    }
  } catch (_) {
    styled = false;
  }
  if (!styled) {
    const style = document.createElement('style');
    style.textContent = CSS;
    shadow.appendChild(style);
  }

  const root = h('div', 'cd', { lang: cfg.lang });

  const panel = h('div', 'cd-panel', {
    id: 'cd-panel',
    role: 'dialog',
    'aria-label': cfg.title,
    'aria-modal': 'false',
    lang: cfg.lang,
  });

  const header = h('div', 'cd-header');
  const avatar = h('div', 'cd-avatar');
  avatar.appendChild(icon('chat', 18));
  const heading = h('div', 'cd-heading');
  const title = h('h2', 'cd-title');
  title.textContent = cfg.title;
  const subtitle = h('p', 'cd-subtitle');
  subtitle.textContent = T.subtitle;
  heading.append(title, subtitle);
  const newBtn = h('button', 'cd-icon-btn cd-new', {
    type: 'button',
    'aria-label': T.newConversation,
    title: T.newConversation,
  });
  newBtn.appendChild(icon('compose', 18));
  const closeBtn = h('button', 'cd-icon-btn cd-close', {
    type: 'button',
    'aria-label': T.close,
    title: T.close,
  });
  closeBtn.appendChild(icon('close', 20));
  header.append(avatar, heading, newBtn, closeBtn);

  const banner = h('div', 'cd-banner', { role: 'alert' });
  banner.appendChild(icon('alert', 16));
  const bannerText = h('span', 'cd-banner-text');
  bannerText.textContent = T.unavailable;
  banner.appendChild(bannerText);
  banner.hidden = !state.unavailable;

  // Not a live region: a streamed bubble is redrawn many times. Finished messages are
  // announced once each through the announcer below (announce()).
  const log = h('div', 'cd-log', {
    role: 'log',
    'aria-live': 'off',
    'aria-label': T.log,
    tabindex: '0',
  });
  const empty = h('div', 'cd-empty');
  empty.textContent = T.empty;
  log.appendChild(empty);

  const form = h('form', 'cd-composer');
  form.setAttribute('novalidate', '');
  const input = h('textarea', 'cd-input', {
    rows: '1',
    placeholder: T.placeholder,
    'aria-label': T.inputLabel,
    'aria-describedby': 'cd-count',
    autocomplete: 'off',
  });
  const sendBtn = h('button', 'cd-send', { type: 'submit', 'aria-label': T.send, title: T.send });
  sendBtn.appendChild(icon('send', 18));
  sendBtn.disabled = true;
  form.append(input, sendBtn);

  const count = h('div', 'cd-count', { id: 'cd-count' });
  count.hidden = true;

  // "Talk to a person" (docs/handoff.md): shown while the bot answers, if a person can.
  const handoffBar = h('div', 'cd-handoff-bar');
  const handoffBtn = h('button', 'cd-handoff cd-handoff-main', { type: 'button' });
  handoffBtn.textContent = T.talkToPerson;
  handoffBar.appendChild(handoffBtn);
  handoffBar.hidden = true;

  const footer = h('div', 'cd-footer');
  footer.textContent = T.poweredBy;

  panel.append(header, banner, log, handoffBar, form, count, footer);

  // Outside the panel, so a reply that finishes while it is closed is still announced.
  const announcer = h('div', 'cd-sr cd-announcer', { role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true' });

  const launcher = h('button', 'cd-launcher', {
    type: 'button',
    'aria-label': T.open,
    'aria-expanded': 'false',
    'aria-controls': 'cd-panel',
    'aria-haspopup': 'dialog',
  });
  const chatIco = icon('chat', 26);
  chatIco.setAttribute('class', 'cd-ico-chat');
  const closeIco = icon('close', 24);
  closeIco.setAttribute('class', 'cd-ico-close');
  const unread = h('span', 'cd-unread');
  unread.hidden = true;
  launcher.append(chatIco, closeIco, unread);

  root.append(panel, launcher, announcer);
  shadow.appendChild(root);

  const phone = typeof window.matchMedia === 'function' ? window.matchMedia(PHONE) : null;
  Object.assign(ui, {
    host,
    shadow,
    root,
    panel,
    banner,
    log,
    empty,
    input,
    sendBtn,
    count,
    launcher,
    unread,
    newBtn,
    closeBtn,
    announcer,
    phone,
    handoffBar,
    handoffBtn,
  });
  hooksAfterSession.fn = updateHandoffBar;
  updateHandoffBar();
  if (phone && phone.addEventListener) phone.addEventListener('change', updateModal);

  launcher.addEventListener('click', () => (state.isOpen ? actions.close() : actions.open()));
  closeBtn.addEventListener('click', () => actions.close());
  newBtn.addEventListener('click', () => actions.newConversation());
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    actions.submit();
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      actions.submit();
    }
  });
  input.addEventListener('input', () => {
    autosize();
    updateSendButton();
  });
  root.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && state.isOpen) {
      e.preventDefault();
      e.stopPropagation();
      actions.close();
    } else if (e.key === 'Tab' && isModal()) {
      trapFocus(e);
    }
  });
  log.addEventListener('scroll', () => {
    state.stick = log.scrollHeight - log.scrollTop - log.clientHeight < 48;
  });
  handoffBar.addEventListener('click', (e) => actions.handoffClick(e.target, null));
  log.addEventListener('click', (e) => {
    if (actions.handoffClick(e.target, e.target.closest && e.target.closest('.cd-msg'))) return;
    const btn = e.target.closest && e.target.closest('.cd-retry, .cd-edit');
    if (!btn) return;
    if (btn.classList.contains('cd-retry')) actions.retry(btn.closest('.cd-msg'));
    else actions.edit(btn.closest('.cd-msg'));
  });

  document.body.appendChild(host);
  state.mounted = true;
}

export function updateHandoffBar() {
  if (!ui.handoffBar) return;
  ui.handoffBar.hidden = !(state.handoffEnabled && state.handling === 'bot');
}

export function autosize() {
  const ta = ui.input;
  ta.style.height = 'auto';
  ta.style.height = Math.min(ta.scrollHeight + 2, 140) + 'px';
}

// Send button, counter and validity of the composer, from its text and the state.
export function updateSendButton() {
  if (!state.mounted) return;
  const T = cfg.T;
  const text = ui.input.value;
  const n = countChars(text);
  const max = state.maxChars;
  const over = n > max;
  ui.sendBtn.disabled = state.sending || state.restoring || !text.trim() || over;
  ui.count.hidden = n < Math.floor(max * 0.8); // shown near the limit only
  if (!ui.count.hidden) {
    const num = h('span', 'cd-count-num');
    num.textContent = fmt(T, 'counter', { n, max });
    ui.count.replaceChildren(num);
    if (over) {
      const note = h('span', 'cd-count-over');
      note.textContent = fmt(T, 'overLimit', { k: n - max });
      ui.count.append(' · ', note);
    }
  }
  ui.count.classList.toggle('cd-count--over', over);
  if (over) ui.input.setAttribute('aria-invalid', 'true');
  else ui.input.removeAttribute('aria-invalid');
  if (over && !state.overLimit) announce(fmt(T, 'overLimit', { k: n - max }));
  state.overLimit = over;
}

export function setSending(flag) {
  state.sending = flag;
  if (!state.mounted) return;
  const hadFocus = ui.shadow.activeElement === ui.input;
  ui.input.disabled = flag;
  updateSendButton();
  if (!flag && state.isOpen && (hadFocus || state.refocusAfterSend)) {
    state.refocusAfterSend = false;
    ui.input.focus();
  } else if (flag && hadFocus) {
    state.refocusAfterSend = true;
  }
}

export function showPanel(open) {
  const T = cfg.T;
  ui.root.classList.toggle('cd-open', open);
  ui.launcher.setAttribute('aria-expanded', open ? 'true' : 'false');
  // Not "Close chat": that is the panel's own Close button; two controls, two names.
  ui.launcher.setAttribute('aria-label', open ? T.hide : T.open);
  if (open) ui.unread.hidden = true;
  updateModal();
}

function isModal() {
  return state.isOpen && !!ui.phone && ui.phone.matches;
}

function updateModal() {
  ui.panel.setAttribute('aria-modal', isModal() ? 'true' : 'false');
}

// Tab and Shift+Tab cycle through the panel's controls.
function trapFocus(e) {
  const stops = Array.from(ui.panel.querySelectorAll(FOCUSABLE)).filter((el) => el.getClientRects().length > 0);
  if (!stops.length) return;
  const first = stops[0];
  const last = stops[stops.length - 1];
  const at = stops.indexOf(ui.shadow.activeElement);
  if (e.shiftKey ? at <= 0 : at === -1 || at === stops.length - 1) {
    e.preventDefault();
    (e.shiftKey ? last : first).focus();
  }
}

// Say `text` once, politely, to screen-reader users.
export function announce(text) {
  if (!ui.announcer || !text) return;
  ui.announcer.textContent = text;
}

export function scrollToBottom() {
  if (ui.log) ui.log.scrollTop = ui.log.scrollHeight;
}

export function updateEmpty() {
  if (ui.empty) ui.empty.hidden = state.items.length > 0;
}

export function showUnread() {
  if (state.mounted) ui.unread.hidden = false;
}
