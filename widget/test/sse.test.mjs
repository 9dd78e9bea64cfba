import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { createSseParser } from '../src/sse.js';

// Feeds `chunks` to a fresh parser; returns the events and every committed id.
function run(chunks, opts = {}) {
  const events = [];
  const ids = [];
  const parser = createSseParser({
    lastEventId: opts.lastEventId ?? null,
    onEvent: (ev) => events.push(ev),
    onId: (id) => ids.push(id),
  });
  for (const c of chunks) parser.feed(c);
  return { events, ids, parser };
}

const bytes = (s) => new TextEncoder().encode(s);

const STREAM =
  ': connected\n\n' +
  'id: 1\nevent: delta\ndata: {"reply_id": "r1", "text": "Hel"}\n\n' +
  ': ping\n\n' +
  'id: 2\nevent: delta\ndata: {"reply_id": "r1", "text": "lo, 世界 👋"}\n\n' +
  'id: 3\nevent: message\ndata: {"id": "r1",\ndata:  "status": "completed"}\n\n';

describe('SSE parser', () => {
  test('one event: type defaults to "message", one space after the colon is dropped', () => {
    const { events } = run(['data: hello\n\n']);
    assert.deepEqual(events, [{ type: 'message', data: 'hello', lastEventId: null }]);
  });

  test('event type, id and multi-line data joined with a newline', () => {
    const { events, parser } = run(['id: 7\nevent: delta\ndata: first\ndata:second\ndata:  third\n\n']);
    assert.deepEqual(events, [{ type: 'delta', data: 'first\nsecond\n third', lastEventId: '7' }]);
    assert.equal(parser.lastEventId, '7');
  });

  test('comments and heartbeats dispatch nothing and do not touch the id', () => {
    const { events, parser } = run([': connected\n\n', ': ping\n\n', ':\n\n'], { lastEventId: '41' });
    assert.deepEqual(events, []);
    assert.equal(parser.lastEventId, '41');
  });

  test('an id-only event commits the id without an event; the id persists to later events', () => {
    const { events, ids } = run(['id: 5\n\n', 'data: x\n\n']);
    assert.deepEqual(ids, ['5', '5']);
    assert.deepEqual(events, [{ type: 'message', data: 'x', lastEventId: '5' }]);
  });

  test('an id containing NUL is ignored; an empty id resets it', () => {
    const { events } = run(['id: 3\ndata: a\n\n', 'id: 4\u00005\ndata: b\n\n', 'id\ndata: c\n\n']);
    assert.deepEqual(
      events.map((e) => e.lastEventId),
      ['3', '3', '']
    );
  });

  test('a field without a colon has an empty value; "data:" alone is an empty data line', () => {
    const { events } = run(['data\n\n', 'data:\ndata:\n\n']);
    assert.deepEqual(
      events.map((e) => e.data),
      ['', '\n']
    );
  });

  test('unknown fields and retry are ignored; the event type resets after each dispatch', () => {
    const { events } = run(['retry: 10\nfoo: bar\nevent: status\ndata: 1\n\ndata: 2\n\n']);
    assert.deepEqual(
      events.map((e) => [e.type, e.data]),
      [
        ['status', '1'],
        ['message', '2'],
      ]
    );
  });

  test('LF, CRLF and CR line endings', () => {
    for (const eol of ['\n', '\r\n', '\r']) {
      const { events } = run([`event: delta${eol}data: a${eol}data: b${eol}${eol}`]);
      assert.deepEqual(events, [{ type: 'delta', data: 'a\nb', lastEventId: null }], JSON.stringify(eol));
    }
  });

  test('the same events whatever the chunk boundaries (every split of the stream)', () => {
    const whole = run([bytes(STREAM)]).events;
    assert.equal(whole.length, 3);
    assert.equal(JSON.parse(whole[1].data).text, 'lo, 世界 👋');
    const all = bytes(STREAM);
    for (let cut = 1; cut < all.length; cut++) {
      const split = run([all.slice(0, cut), all.slice(cut)]).events;
      assert.deepEqual(split, whole, `split at byte ${cut}`);
    }
    assert.deepEqual(run(Array.from(all, (b) => Uint8Array.of(b))).events, whole, 'byte by byte');
  });

  test('a CRLF split between two chunks is one line ending, not two', () => {
    const { events } = run(['data: a\r', '\ndata: b\r\n\r', '\n']);
    assert.deepEqual(events, [{ type: 'message', data: 'a\nb', lastEventId: null }]);
  });

  test('a multi-byte character split across chunks is decoded whole', () => {
    const b = bytes('data: 世\n\n');
    const { events } = run([b.slice(0, 7), b.slice(7)]); // inside the 3-byte character
    assert.equal(events[0].data, '世');
  });

  test('a leading byte order mark is dropped', () => {
    assert.deepEqual(run(['\uFEFFdata: x\n\n']).events[0].data, 'x');
    assert.deepEqual(run([Uint8Array.of(0xef, 0xbb, 0xbf), bytes('data: y\n\n')]).events[0].data, 'y');
  });

  test('an event cut off by the end of the connection is neither dispatched nor its id committed', () => {
    const { events, parser } = run(['id: 1\ndata: whole\n\n', 'id: 2\nevent: delta\ndata: {"text": "GARB']);
    assert.deepEqual(
      events.map((e) => e.data),
      ['whole']
    );
    assert.equal(parser.lastEventId, '1');
  });

  test('stop() drops the rest of the chunk and later chunks', () => {
    const events = [];
    const parser = createSseParser({
      onEvent(ev) {
        events.push(ev.data);
        parser.stop();
      },
    });
    parser.feed('data: 1\n\ndata: 2\n\n');
    parser.feed('data: 3\n\n');
    assert.deepEqual(events, ['1']);
  });
});
