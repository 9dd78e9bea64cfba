// The API client: JSON requests with the bearer token, the visitor session behind it
// (created on first use, renewed once on 401), the API's error shape as ApiError.

import { markAvailable, setUnavailable } from './availability.js';
import { cfg, state } from './state.js';

export class ApiError extends Error {
  constructor(status, code, message, extra) {
    super(message || code);
    this.status = status; // 0 = network error / unreadable response
    this.code = code;
    Object.assign(this, extra || {});
  }
}

export const enc = encodeURIComponent;
const REQUEST_TIMEOUT_MS = 20000;

export function dropToken() {
  state.token = null;
  cfg.store.del('token');
}

export async function request(method, path, body, opts) {
  opts = opts || {};
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let sentToken = null;
  if (!opts.noAuth) {
    sentToken = await ensureSession();
    headers.Authorization = 'Bearer ' + sentToken;
  }
  let res;
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), REQUEST_TIMEOUT_MS);
  try {
    res = await fetch(cfg.api + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      mode: 'cors',
      credentials: 'omit',
      cache: 'no-store',
      signal: ctrl.signal,
    });
  } catch (e) {
    throw new ApiError(0, ctrl.signal.aborted ? 'timeout' : 'network_error', String((e && e.message) || e));
  } finally {
    clearTimeout(timer);
  }
  if (res.status === 401 && !opts.noAuth && !opts.authRetried) {
    // The session expired or was revoked: start a new one, once.
    if (state.token === sentToken) dropToken();
    return request(method, path, body, Object.assign({}, opts, { authRetried: true }));
  }
  let data = null;
  try {
    const text = await res.text();
    data = text ? JSON.parse(text) : null;
  } catch (_) {
    data = null;
  }
  if (!res.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(res.status, err.code || 'http_' + res.status, err.message || '', {
      fields: err.fields || null,
      retryAfter: parseInt(res.headers.get('Retry-After') || '', 10) || 0,
    });
  }
  markAvailable();
  return data;
}

// Called once a session is known (the handoff control depends on it; view/panel.js).
export const hooksAfterSession = { fn: null };

export function ensureSession() {
  if (state.token) return Promise.resolve(state.token);
  if (!state.sessionPromise) {
    state.sessionPromise = createSession().finally(() => {
      state.sessionPromise = null;
    });
  }
  return state.sessionPromise;
}

async function createSession() {
  const body = { widget_key: cfg.widgetKey };
  if (cfg.userId) {
    body.user_id = cfg.userId;
    if (cfg.userHash) body.user_hash = cfg.userHash;
  }
  let data;
  try {
    data = await request('POST', '/widget/sessions/', body, { noAuth: true });
  } catch (e) {
    e.session = true;
    setUnavailable(true);
    throw e;
  }
  if (!data || typeof data.token !== 'string' || !data.token) {
    setUnavailable(true);
    throw new ApiError(0, 'bad_session_response', '', { session: true });
  }
  state.token = data.token;
  cfg.store.set('token', state.token);
  state.identified = !!(data.customer && data.customer.identified);
  state.handoffEnabled = data.handoff_enabled === true;
  cfg.store.set('handoff', state.handoffEnabled ? '1' : '0');
  if (hooksAfterSession.fn) hooksAfterSession.fn();
  const max = data.max_message_chars;
  if (Number.isInteger(max) && max > 0) {
    state.maxChars = max;
    cfg.store.set('max_chars', String(max)); // a stored token means no session answer next time
  }
  return state.token;
}
