// Entry point: reads the <script> tag, restores the stored session, mounts the widget and
// exposes window.Chatdesk. Bundled into chatbot/static/chatdesk/widget.js (widget/build.mjs).

import { findScript, readConfig } from './config.js';
import { clearConversation, connect, itemForElement, start } from './conversation.js';
import { handoffClick } from './view/handoff.js';
import { scheduleRender } from './view/message.js';
import { edit, retry, submit } from './send.js';
import { cfg, state, ui } from './state.js';
import { createStore } from './storage.js';
import { buildUi, scrollToBottom, showPanel } from './view/panel.js';
import { wakeStream } from './stream.js';

function open(focus) {
  if (!state.mounted) {
    state.pendingOpen = true;
    return;
  }
  if (state.isOpen) return;
  state.isOpen = true;
  showPanel(true);
  state.stick = true;
  scrollToBottom();
  if (focus !== false) {
    if (!ui.input.disabled) ui.input.focus();
    else state.refocusAfterSend = true;
  }
  if (!state.started) start();
  else if (state.conversationId && !state.stream && !state.restoring) connect(state.conversationId);
}

function close() {
  if (!state.mounted) {
    state.pendingOpen = false;
    return;
  }
  if (!state.isOpen) return;
  const focusInside = ui.shadow.activeElement && ui.shadow.activeElement !== ui.launcher;
  state.isOpen = false;
  showPanel(false);
  if (focusInside) ui.launcher.focus();
}

function newConversation() {
  clearConversation();
  if (state.mounted && state.isOpen && !ui.input.disabled) ui.input.focus();
}

function boot() {
  if (state.mounted) return;
  buildUi({
    open: () => open(),
    close,
    newConversation,
    submit,
    retry: (el) => retry(itemForElement(el)),
    edit: (el) => edit(itemForElement(el)),
    handoffClick: (target, el) => handoffClick(target, el ? itemForElement(el) : null, scheduleRender),
  });
  if (state.pendingOpen) open(false); // data-open: show the panel without stealing the page's focus
}

function init() {
  if (window.__chatdeskWidgetLoaded) return;
  const script = findScript(document);
  if (!script) {
    console.warn('[chatdesk] widget.js needs a data-widget-key attribute on its <script> tag');
    return;
  }
  const config = readConfig(script, {
    pageHref: location.href,
    pageOrigin: location.origin,
    languages: navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language],
  });
  if (!config.widgetKey) {
    console.warn('[chatdesk] data-widget-key is empty');
    return;
  }
  window.__chatdeskWidgetLoaded = true;
  Object.assign(cfg, config, { store: createStore('chatdesk:' + config.widgetKey + ':', () => window.localStorage) });

  // A token issued for one identified user must not be reused for another (or for an
  // anonymous visitor after logout): bind the stored session to data-user-id.
  const store = cfg.store;
  if ((store.get('user') || '') !== cfg.userId) {
    store.del('token');
    store.del('conversation');
    if (cfg.userId) store.set('user', cfg.userId);
    else store.del('user');
  }
  state.token = store.get('token');
  state.conversationId = store.get('conversation');
  const maxChars = parseInt(store.get('max_chars') || '', 10);
  if (maxChars > 0) state.maxChars = maxChars;
  state.handoffEnabled = store.get('handoff') === '1';
  state.pendingOpen = cfg.startOpen;

  window.addEventListener('online', wakeStream);
  window.Chatdesk = Object.freeze({
    open: () => open(),
    close: () => close(),
    newConversation: () => newConversation(),
  });

  if (document.body) boot();
  else document.addEventListener('DOMContentLoaded', boot, { once: true });
}

init();
