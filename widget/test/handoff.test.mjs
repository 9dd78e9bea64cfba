import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { agentLine, eventMs, handlingLine, isOldNews, looksLikeEmail, waitText } from '../src/handoff.js';
import { STRINGS } from '../src/i18n.js';
import { isRateable, rank, staffName } from '../src/messages.js';

const T = STRINGS.en;
const ZH = STRINGS['zh-Hans'];

describe('handoff lines', () => {
  test('waiting says so, with the estimated wait when the server knows it', () => {
    assert.deepEqual(handlingLine({ state: 'waiting', reason: 'x' }, T), { text: 'Waiting for an agent…', askEmail: false });
    assert.equal(handlingLine({ state: 'waiting', estimated_wait_seconds: 180 }, T).text, 'Waiting for an agent… Estimated wait: about 3 min.');
    assert.equal(handlingLine({ state: 'waiting', estimated_wait_seconds: 20 }, T).text, 'Waiting for an agent… Estimated wait: under a minute.');
    assert.equal(handlingLine({ state: 'waiting' }, ZH).text, '正在为您转接人工客服…');
  });

  test('follow-up asks for an email, and says why', () => {
    const timeout = handlingLine({ state: 'followup', reason: 'timeout', email_requested: true }, T);
    assert.ok(timeout.askEmail && timeout.text.startsWith('No one can pick up'));
    assert.ok(handlingLine({ state: 'followup', reason: 'outside_hours' }, T).text.startsWith('Our team is not available'));
    assert.equal(handlingLine({ state: 'followup', email_requested: false }, T).askEmail, false);
  });

  test('human and bot have no line of their own (agent_joined / agent_left say who)', () => {
    assert.equal(handlingLine({ state: 'human' }, T), null);
    assert.equal(handlingLine({ state: 'bot' }, T), null);
    assert.equal(handlingLine(null, T), null);
  });

  test('agents by name; a missing name falls back to "Support agent"', () => {
    assert.equal(agentLine('agent_joined', { agent_name: 'Alex' }, T), 'Alex joined');
    assert.equal(agentLine('agent_left', { agent_name: 'Alex' }, T), 'Alex left; the assistant is back');
    assert.equal(agentLine('agent_joined', {}, T), 'Support agent joined');
    assert.equal(agentLine('agent_joined', { agent_name: '小王' }, ZH), '小王 已加入对话');
  });

  test('wait text ignores nonsense', () => {
    for (const v of [undefined, null, -1, NaN, '60']) assert.equal(waitText(v, T), '');
    assert.equal(waitText(90, T), 'Estimated wait: about 2 min.');
  });

  test('email check', () => {
    assert.ok(looksLikeEmail(' me@shop.example '));
    for (const v of ['', 'me', 'me@', 'me@shop', 'a b@c.d']) assert.ok(!looksLikeEmail(v), v);
  });
});

describe('messages of the handoff', () => {
  test('a deferred reply is final (the bot never answers it)', () => {
    assert.equal(rank('deferred'), 2);
  });

  test('only finished bot answers with text are rated', () => {
    assert.ok(isRateable({ role: 'assistant', status: 'completed', content: 'Hi' }));
    assert.ok(!isRateable({ role: 'assistant', status: 'failed', content: 'Sorry' }));
    assert.ok(!isRateable({ role: 'assistant', status: 'completed', content: '' }));
    assert.ok(!isRateable({ role: 'staff', status: 'completed', content: 'Hi' }));
    assert.ok(!isRateable({ role: 'assistant', status: 'deferred', content: '' }));
  });

  test('staff are shown by name, as a person', () => {
    assert.equal(staffName({ role: 'staff', author_name: 'Alex' }, T), 'Alex');
    assert.equal(staffName({ role: 'staff', author_name: '' }, T), 'Support agent');
  });

  test('every language has every handoff string', () => {
    for (const key of Object.keys(STRINGS.en)) assert.ok(key in ZH, key);
  });
});

describe('replayed handoff events', () => {
  test('event ids carry the server time', () => {
    assert.equal(eventMs('1764568000123-4'), 1764568000123);
    assert.equal(eventMs('1764568000123'), 1764568000123);
    assert.equal(eventMs(null), 0);
  });

  test('events up to the restored updated_at are old news; later ones or unknown ids are not', () => {
    assert.ok(isOldNews('1000-0', 1000));
    assert.ok(isOldNews('999-5', 1000));
    assert.ok(!isOldNews('1001-0', 1000));
    assert.ok(!isOldNews('999-0', 0)); // nothing restored: every event counts
    assert.ok(!isOldNews(null, 1000));
  });
});
