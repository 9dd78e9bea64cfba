// "The assistant is unavailable" banner: shown while the API cannot be reached or refuses
// the session, hidden again by the next successful response.

import { state, ui } from './state.js';

export function setUnavailable(flag) {
  state.unavailable = !!flag;
  if (ui.banner) ui.banner.hidden = !state.unavailable;
}

export function markAvailable() {
  if (state.unavailable) setUnavailable(false);
}

export const isAvailabilityError = (e) => !!e && (e.session || e.status === 0 || e.status >= 500);

export function backgroundError(e) {
  if (isAvailabilityError(e)) setUnavailable(true);
  else console.warn('[chatdesk]', e);
}
