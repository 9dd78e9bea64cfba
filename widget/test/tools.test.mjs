import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { applyToolStatus, visibleTools } from '../src/tools.js';
import { STRINGS } from '../src/i18n.js';

describe('tool_status events', () => {
  test('the latest tool shows its label while the reply is being written', () => {
    const item = {};
    assert.ok(applyToolStatus(item, { tool: 'order_status', status: 'running', label: 'Looking up your order…', call_id: 'a' }));
    assert.deepEqual(visibleTools(item, true).map((t) => t.label), ['Looking up your order…']);
    applyToolStatus(item, { tool: 'search', status: 'running', label: 'Searching…', call_id: 'b' });
    applyToolStatus(item, { tool: 'order_status', status: 'done', label: 'Looking up your order…', call_id: 'a' });
    assert.deepEqual(visibleTools(item, true).map((t) => t.label), ['Searching…']);
    assert.deepEqual(visibleTools(item, false), []); // the answer is in: no status line
  });

  test('a side effect waits with its question; a replayed event does not reopen a decision', () => {
    const item = {};
    applyToolStatus(item, { tool: 'cancel_order', status: 'needs_confirmation', label: 'Cancel order 1234?', call_id: 'c1' });
    const [entry] = visibleTools(item, false);
    assert.equal(entry.callId, 'c1');
    entry.decision = 'confirmed';
    assert.equal(applyToolStatus(item, { tool: 'cancel_order', status: 'needs_confirmation', label: 'x', call_id: 'c1' }), false);
    assert.equal(item.tools.length, 1);
  });

  test('unknown statuses and malformed events are ignored', () => {
    const item = {};
    assert.equal(applyToolStatus(item, { tool: 'x', status: 'exploded' }), false);
    assert.equal(applyToolStatus(item, { status: 'running' }), false);
    assert.equal(item.tools, undefined);
  });

  test('every language has the tool words', () => {
    for (const T of Object.values(STRINGS)) {
      for (const key of ['toolConfirm', 'toolCancel', 'toolConfirmed', 'toolCancelled', 'toolDecided', 'toolWorking']) {
        assert.ok(T[key], key);
      }
    }
  });
});
