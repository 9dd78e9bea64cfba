import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  citationList,
  countChars,
  describeSendError,
  displayText,
  findAdoptable,
  isFinal,
  mergeInto,
  rank,
  replyErrorText,
} from '../src/messages.js';
import { STRINGS } from '../src/i18n.js';

const item = (msg, extra = {}) => ({ id: null, msg, local: null, streamed: '', ...extra });

describe('message status', () => {
  test('pending < streaming < completed = failed; unknown statuses count as final', () => {
    assert.ok(rank('pending') < rank('streaming') && rank('streaming') < rank('completed'));
    assert.equal(rank('failed'), rank('completed'));
    assert.ok(isFinal('something-new'));
  });
});

describe('mergeInto', () => {
  test('a stale snapshot never moves a message backwards (only fills a missing timestamp)', () => {
    const it = item({ role: 'assistant', status: 'completed', content: 'done' });
    mergeInto(it, { role: 'assistant', status: 'pending', content: '', created_at: '2024-01-01T00:00:00Z' });
    assert.deepEqual(it.msg, { role: 'assistant', status: 'completed', content: 'done', created_at: '2024-01-01T00:00:00Z' });
  });

  test('until final, the longer content is kept; the final message replaces it', () => {
    const it = item({ role: 'assistant', status: 'streaming', content: 'Hello wor' });
    mergeInto(it, { role: 'assistant', status: 'streaming', content: 'Hello' });
    assert.equal(it.msg.content, 'Hello wor');
    mergeInto(it, { role: 'assistant', status: 'failed', content: 'Sorry.' });
    assert.equal(it.msg.content, 'Sorry.');
  });

  test('a server copy of a user message ends its local sending state', () => {
    const it = item({ role: 'user', status: 'pending', content: 'hi' }, { local: { state: 'sending' } });
    mergeInto(it, { role: 'user', status: 'completed', content: 'hi', id: 'u1' });
    assert.equal(it.local.state, null);
  });
});

describe('displayText', () => {
  test('while streaming, the longer of deltas and snapshot; once final, the snapshot', () => {
    const it = item({ role: 'assistant', status: 'streaming', content: 'Hel' }, { streamed: 'Hello' });
    assert.equal(displayText(it), 'Hello');
    it.streamed = 'H';
    assert.equal(displayText(it), 'Hel');
    it.msg = { role: 'assistant', status: 'completed', content: 'Hello!' };
    it.streamed = 'Hello! and more';
    assert.equal(displayText(it), 'Hello!');
  });
});

describe('findAdoptable', () => {
  const sending = item({ role: 'user', content: ' hi ' }, { local: { cmid: 'c1', state: 'sending' } });
  const placeholder = item({ role: 'assistant' }, { placeholder: true, forUser: { id: 'u1' } });
  const items = [sending, placeholder];

  test('a user message by client_message_id, or by text while sending', () => {
    assert.equal(findAdoptable(items, { role: 'user', client_message_id: 'c1', content: 'x' }), sending);
    assert.equal(findAdoptable(items, { role: 'user', client_message_id: 'c2', content: 'hi' }), null);
    assert.equal(findAdoptable(items, { role: 'user', content: 'hi' }), sending);
  });

  test("a reply by the id of the message it answers", () => {
    assert.equal(findAdoptable(items, { role: 'assistant', reply_to: 'u1' }), placeholder);
    assert.equal(findAdoptable(items, { role: 'assistant', reply_to: 'u2' }), null);
    assert.equal(findAdoptable(items, { role: 'staff', reply_to: 'u1' }), null);
  });
});

describe('describeSendError', () => {
  const T = STRINGS.en;
  const SERVER = 'Ensure this field has no more than 4000 characters.';

  test('no answer, 5xx or no session: Retry (the same id), never Edit (it may be stored)', () => {
    for (const e of [{ status: 0 }, { status: 503 }, { status: 403, session: true }]) {
      assert.deepEqual(describeSendError(e, T), { note: T.notSent, retryable: true, editable: false });
    }
  });

  test('429: Retry after the wait, or Edit', () => {
    assert.deepEqual(describeSendError({ status: 429, code: 'rate_limited' }, T), {
      note: T.rateLimited,
      retryable: true,
      editable: true,
    });
    assert.equal(describeSendError({ status: 429, code: 'too_many_pending_replies' }, T).note, T.tooManyPending);
  });

  test("refused (413, 400...): Edit only, in the widget's words, never the server's message", () => {
    assert.deepEqual(describeSendError({ status: 413, code: 'payload_too_large', message: SERVER }, T), {
      note: T.tooLong,
      retryable: false,
      editable: true,
    });
    const invalid = { status: 400, code: 'validation_error', message: SERVER, fields: { content: [SERVER] } };
    assert.deepEqual(describeSendError(invalid, T), { note: T.invalid, retryable: false, editable: true });
    assert.equal(describeSendError(invalid, T, { tooLong: true }).note, T.tooLong);
    assert.equal(describeSendError(invalid, STRINGS['zh-Hans']).note, STRINGS['zh-Hans'].invalid);
  });
});

describe('failed replies and lengths', () => {
  test("a failed reply's text by its code", () => {
    const T = STRINGS['zh-Hans'];
    assert.equal(replyErrorText({ error_code: 'budget_exceeded' }, T), T.budgetExceeded);
    assert.equal(replyErrorText({ error_code: 'worker_lost' }, T), T.failedReplyFallback);
  });

  test('characters are counted like the server does: code points of the trimmed text', () => {
    assert.equal(countChars('  hello \n'), 5);
    assert.equal(countChars('👋🏽'), 2); // 4 UTF-16 units
    assert.equal(countChars('你好'), 2);
    assert.equal(countChars(''), 0);
  });
});

describe('citations', () => {
  const safe = (u) => /^(https?:|mailto:)/i.test(u);
  test('a reply lists its cited sources in order, links only for http(s)', () => {
    const msg = {
      role: 'assistant',
      citations: [
        { number: 2, title: 'Shipping', url: 'https://shop.example.com/ship' },
        { number: 1, title: ' Returns ', url: '' },
        { number: 3, title: 'Evil', url: 'javascript:alert(1)' },
        { number: 4, title: 'Mail', url: 'mailto:a@example.com' },
      ],
    };
    assert.deepEqual(citationList(msg, safe), [
      { number: 1, title: 'Returns', url: '' },
      { number: 2, title: 'Shipping', url: 'https://shop.example.com/ship' },
      { number: 3, title: 'Evil', url: '' },
      { number: 4, title: 'Mail', url: '' },
    ]);
  });
  test('nothing for customer messages, missing or malformed citations', () => {
    assert.deepEqual(citationList({ role: 'user', citations: [{ number: 1, title: 'x' }] }, safe), []);
    assert.deepEqual(citationList({ role: 'assistant' }, safe), []);
    assert.deepEqual(
      citationList({ role: 'assistant', citations: [null, { number: 'x', title: 'a' }, { number: 1 }, { number: 1, title: 'ok' }, { number: 1, title: 'dup' }] }, safe),
      [{ number: 1, title: 'ok', url: '' }],
    );
  });
});
