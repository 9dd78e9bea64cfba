// The inbox's pure parts (no DOM): unit-tested in widget/test/inbox.test.mjs.

export const HANDLING_LABELS = {
  bot: 'Bot',
  waiting: 'Waiting for a human',
  human: 'With an agent',
  followup: 'Awaiting follow-up',
};

// "45s", "12m", "3h 5m", "2d 4h": how long since an ISO time (never negative).
export function fmtWait(iso, now = Date.now()) {
  const seconds = Math.max(0, Math.floor((now - new Date(iso).getTime()) / 1000));
  if (!Number.isFinite(seconds)) return '';
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h ${minutes % 60}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

// Canned replies for what is typed: "/ref" matches shortcuts starting with "ref" (exact
// match first); anything not starting with "/" or containing a space matches nothing.
export function cannedMatch(replies, typed) {
  const m = /^\/([\w-]*)$/.exec(typed || '');
  if (!m) return [];
  const prefix = m[1].toLowerCase();
  const hits = replies.filter((r) => r.shortcut.toLowerCase().startsWith(prefix));
  return hits.sort((a, b) => (a.shortcut === prefix ? -1 : b.shortcut === prefix ? 1 : a.shortcut.localeCompare(b.shortcut)));
}
