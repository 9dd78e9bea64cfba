import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { applyToolStatus, awaitingAsEvents, restoreQuestions, visibleTools } from '../src/tools.js';
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

describe('questions restored after a reload', () => {
  const reply = (id, status = 'completed') => ({ id, msg: { id, role: 'assistant', status } });
  const listed = {
    results: [
      { id: 'c1', tool: 'cancel_order', label: 'Cancel order 1234?', status: 'awaiting_confirmation', reply_id: 'r1' },
      { id: 'c2', tool: 'cancel_order', label: 'Cancel order 99?', status: 'awaiting_confirmation', reply_id: 'r-gone' },
    ],
  };

  test('the listed calls become the needs_confirmation events the live stream sends', () => {
    assert.deepEqual(awaitingAsEvents(listed)[0], {
      reply_id: 'r1',
      tool: 'cancel_order',
      status: 'needs_confirmation',
      label: 'Cancel order 1234?',
      call_id: 'c1',
    });
    const malformed = { results: [null, { id: 'x', tool: 't', status: 'awaiting_confirmation' }, { id: 'y', tool: 't', reply_id: 'r', status: 'succeeded' }] };
    assert.deepEqual(awaitingAsEvents(malformed), []);
    assert.deepEqual(awaitingAsEvents(null), []);
    assert.deepEqual(awaitingAsEvents({ results: 'nope' }), []);
  });

  test('each question goes back on its reply with Confirm / Cancel; one for a reply not shown is dropped', () => {
    const r1 = reply('r1');
    const other = reply('r2');
    const changed = restoreQuestions([{ id: 'u1', msg: { id: 'u1', role: 'user', status: 'completed' } }, r1, other], awaitingAsEvents(listed));
    assert.deepEqual(changed, [r1]);
    const [entry] = visibleTools(r1, false);
    assert.deepEqual([entry.callId, entry.label, entry.status, entry.decision], ['c1', 'Cancel order 1234?', 'needs_confirmation', null]);
    assert.deepEqual(visibleTools(other, false), []);
  });

  test('the same question replayed by the stream afterwards is not shown twice', () => {
    const r1 = reply('r1');
    restoreQuestions([r1], awaitingAsEvents(listed));
    assert.equal(applyToolStatus(r1, { reply_id: 'r1', tool: 'cancel_order', status: 'needs_confirmation', label: 'Cancel order 1234?', call_id: 'c1' }), true);
    assert.equal(r1.tools.length, 1);
  });

  test('a question the server no longer lists (answered already) does not come back with a replay', () => {
    const r1 = reply('r1');
    restoreQuestions([r1], []);
    const replayed = { reply_id: 'r1', tool: 'cancel_order', status: 'needs_confirmation', label: 'Cancel order 1234?', call_id: 'c1' };
    assert.equal(applyToolStatus(r1, replayed), false);
    assert.deepEqual(visibleTools(r1, false), []);
  });

  test('a reply still being written when the page loaded keeps taking its live questions', () => {
    const writing = reply('r3', 'streaming');
    restoreQuestions([writing], []);
    assert.ok(!writing.toolsSettled);
    const live = { reply_id: 'r3', tool: 'cancel_order', status: 'needs_confirmation', label: 'Cancel order 7?', call_id: 'c7' };
    assert.equal(applyToolStatus(writing, live), true);
    assert.equal(visibleTools(writing, false)[0].callId, 'c7');
  });
});
