// The widget's frame: launcher, panel (header, banner, log, composer) in a shadow root.
// buildUi(actions) mounts it and wires its controls to `actions` (main.js).

import CSS from '../styles.css';
import { cfg, state, ui } from '../state.js';
import { h, icon } from './dom.js';

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

  const log = h('div', 'cd-log', {
    role: 'log',
    'aria-live': 'polite',
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
    autocomplete: 'off',
  });
  const sendBtn = h('button', 'cd-send', { type: 'submit', 'aria-label': T.send, title: T.send });
  sendBtn.appendChild(icon('send', 18));
  sendBtn.disabled = true;
  form.append(input, sendBtn);

  const footer = h('div', 'cd-footer');
  footer.textContent = T.poweredBy;

  panel.append(header, banner, log, form, footer);

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

  root.append(panel, launcher);
  shadow.appendChild(root);

  Object.assign(ui, { host, shadow, root, panel, banner, log, empty, input, sendBtn, launcher, unread, newBtn, closeBtn });

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
    }
  });
  log.addEventListener('scroll', () => {
    state.stick = log.scrollHeight - log.scrollTop - log.clientHeight < 48;
  });
  log.addEventListener('click', (e) => {
    const btn = e.target.closest && e.target.closest('.cd-retry');
    if (btn) actions.retry(btn.closest('.cd-msg'));
  });

  document.body.appendChild(host);
  state.mounted = true;
}

export function autosize() {
  const ta = ui.input;
  ta.style.height = 'auto';
  ta.style.height = Math.min(ta.scrollHeight + 2, 140) + 'px';
}

export function updateSendButton() {
  if (state.mounted) ui.sendBtn.disabled = state.sending || state.restoring || !ui.input.value.trim();
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
  ui.launcher.setAttribute('aria-label', open ? T.close : T.open);
  if (open) ui.unread.hidden = true;
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
