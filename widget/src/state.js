// The widget's state, in one place: every module reads and writes these objects.
//
// `cfg` is filled once at start from the <script> tag (config.js) and never changes.
// `state` is what changes while the widget runs; `ui` holds the mounted DOM nodes.

export const cfg = {
  widgetKey: '',
  lang: 'en',
  T: null, // the strings of `lang` (i18n.js)
  title: '',
  api: '', // ".../api/v1"
  userId: '',
  userHash: '',
  startOpen: false,
  store: null, // storage.js, namespaced by the widget key
};

export const state = {
  // session and conversation
  token: null,
  identified: false, // from the session: a verified customer of the host site
  conversationId: null,
  convGen: 0, // bumped by "new conversation": results of older operations are dropped
  convPromise: null,
  sessionPromise: null,
  unavailable: false,
  maxChars: 4000, // the server's CHAT_MAX_MESSAGE_CHARS, from the session (4000 until then)
  handoffEnabled: false, // the session says whether a person stands behind "Talk to a person"
  handling: 'bot', // the conversation's handling: bot | waiting | human | followup (handoff.js)
  handlingSince: 0, // server ms of the restored conversation's updated_at: older events are known

  // messages, in display order; server ids -> items; stream events waiting for an id
  items: [],
  byId: new Map(),
  orphans: new Map(),

  // sending
  sending: false,
  inflight: 0,
  sendChain: Promise.resolve(),
  refocusAfterSend: false,
  overLimit: false, // the composer's text is longer than maxChars

  // lifecycle
  started: false,
  restoring: false,
  mounted: false,
  isOpen: false,
  pendingOpen: false,
  stick: true, // keep the log scrolled to the bottom

  // live events
  stream: null,
  lastEventIds: new Map(), // conversation id -> last SSE event id (this page view)
  polling: false,
};

export const ui = {};
