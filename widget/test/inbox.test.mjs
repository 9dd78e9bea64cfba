import assert from 'node:assert/strict';
import { test } from 'node:test';

import { cannedMatch, fmtWait } from '../src/inbox/logic.js';

test('fmtWait reads like a clock for people', () => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  assert.equal(fmtWait('2026-01-01T11:59:15Z', now), '45s');
  assert.equal(fmtWait('2026-01-01T11:48:00Z', now), '12m');
  assert.equal(fmtWait('2026-01-01T08:55:00Z', now), '3h 5m');
  assert.equal(fmtWait('2025-12-30T08:00:00Z', now), '2d 4h');
  assert.equal(fmtWait('2026-01-01T12:00:30Z', now), '0s'); // clock skew: never negative
});

test('cannedMatch finds shortcuts by prefix, exact match first', () => {
  const replies = [
    { shortcut: 'refund-policy', body: 'A' },
    { shortcut: 'refund', body: 'B' },
    { shortcut: 'hello', body: 'C' },
  ];
  assert.deepEqual(cannedMatch(replies, '/refund').map((r) => r.body), ['B', 'A']);
  assert.deepEqual(cannedMatch(replies, '/he').map((r) => r.body), ['C']);
  assert.equal(cannedMatch(replies, '/').length, 3);
  assert.deepEqual(cannedMatch(replies, 'refund'), []);
  assert.deepEqual(cannedMatch(replies, '/refund please'), []);
});
