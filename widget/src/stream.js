// The conversation's live events: one fetch() stream at a time (EventSource cannot send an
// Authorization header), reconnecting with backoff and resuming with Last-Event-ID.
//
// openStream(convId, { onEvent(stream, type, data), onGone(stream) }) returns the stream;
// onGone runs when the server says the conversation does not exist (404).

import { ApiError, dropToken, enc, ensureSession } from './api.js';
import { markAvailable, setUnavailable } from './availability.js';
import { createSseParser } from './sse.js';
import { cfg, state } from './state.js';

export function openStream(convId, handlers) {
  if (state.stream && state.stream.convId === convId && !state.stream.closed) return state.stream;
  closeStream();
  const s = {
    convId,
    handlers,
    closed: false,
    connected: false,
    ctrl: null,
    lastEventId: state.lastEventIds.get(convId) || null,
    lastActivity: Date.now(),
    waiters: [],
    wake: null,
  };
  state.stream = s;
  runStream(s).catch((e) => console.warn('[chatdesk] stream', e));
  return s;
}

export function closeStream() {
  if (!state.stream) return;
  const s = state.stream;
  state.stream = null;
  s.closed = true;
  if (s.ctrl) s.ctrl.abort();
  if (s.wake) s.wake();
  s.waiters.splice(0).forEach((fn) => fn());
}

// Resolves once the stream is connected (or closed), or after timeoutMs.
export function streamReady(s, timeoutMs) {
  if (s.connected || s.closed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    function done() {
      clearTimeout(timer);
      const i = s.waiters.indexOf(done);
      if (i !== -1) s.waiters.splice(i, 1);
      resolve();
    }
    s.waiters.push(done);
  });
}

// Reconnect now (the browser is back online) instead of at the end of the backoff.
export function wakeStream() {
  const s = state.stream;
  if (s && !s.connected && s.wake) s.wake();
}

function pause(s, ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      s.wake = null;
      resolve();
    }
    s.wake = done;
  });
}

async function runStream(s) {
  let delay = 1000;
  let authRetried = false;
  while (!s.closed) {
    try {
      const tok = await ensureSession();
      if (s.closed) return;
      const headers = { Accept: 'text/event-stream', Authorization: 'Bearer ' + tok };
      if (s.lastEventId) headers['Last-Event-ID'] = s.lastEventId;
      s.ctrl = new AbortController();
      const res = await fetch(cfg.api + '/conversations/' + enc(s.convId) + '/events/', {
        headers,
        signal: s.ctrl.signal,
        mode: 'cors',
        credentials: 'omit',
        cache: 'no-store',
      });
      if (s.closed) return;
      if (res.status === 401 && !authRetried) {
        authRetried = true;
        if (state.token === tok) dropToken();
        continue;
      }
      if (res.status === 404) {
        s.handlers.onGone(s);
        return;
      }
      if (!res.ok || !res.body) throw new ApiError(res.status, 'stream_http_' + res.status, '');
      markAvailable();
      authRetried = false;
      delay = 1000;
      s.connected = true;
      s.lastActivity = Date.now();
      s.waiters.splice(0).forEach((fn) => fn());
      await readStream(s, res.body.getReader());
    } catch (e) {
      if (s.closed) return;
      if (e && e.session) setUnavailable(true);
    }
    s.connected = false;
    if (s.closed) return;
    await pause(s, delay); // 1s, 2s, 4s ... 15s
    delay = Math.min(delay * 2, 15000);
  }
}

async function readStream(s, reader) {
  // One parser per connection: an event cut off by a disconnect is discarded.
  const parser = createSseParser({
    lastEventId: s.lastEventId,
    onId(id) {
      s.lastEventId = id;
      if (id) state.lastEventIds.set(s.convId, id);
    },
    onEvent(ev) {
      s.handlers.onEvent(s, ev.type, ev.data);
      if (s.closed) parser.stop();
    },
  });
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done || s.closed) break;
      s.lastActivity = Date.now();
      parser.feed(value);
      if (s.closed) return;
    }
  } finally {
    reader.cancel().catch(() => {
      /* already aborted or closed */
    });
  }
}
