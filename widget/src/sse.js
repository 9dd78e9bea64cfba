// A Server-Sent Events parser (the WHATWG "event stream interpretation"), fed one
// connection's bytes or text in chunks of any size. No DOM, no network: see widget/test.
//
//   const parser = createSseParser({ lastEventId, onEvent, onId });
//   parser.feed(chunk); // Uint8Array (decoded as UTF-8, multi-byte characters may be split) or string
//
// onEvent({ type, data, lastEventId }) runs for each complete event that has data (type
// defaults to "message", data lines are joined with "\n"); onId(id) runs at every dispatch
// with the id to resume from. Comments (":" lines, heartbeats) and `retry` are ignored. An
// event cut off by the end of the connection is never dispatched and its id never committed,
// so a reconnect's Last-Event-ID makes the server resend it. stop() drops the rest.

export function createSseParser({ lastEventId = null, onEvent, onId } = {}) {
  const decoder = new TextDecoder();
  let buf = '';
  let first = true;
  let data = [];
  let hasData = false;
  let type = '';
  let idBuf = lastEventId;
  let committed = lastEventId;
  let stopped = false;
  let skipLF = false; // the last chunk ended with CR: a LF starting the next one is its CRLF

  function dispatch() {
    committed = idBuf;
    if (onId) onId(idBuf);
    if (hasData && onEvent) onEvent({ type: type || 'message', data: data.join('\n'), lastEventId: idBuf });
    data = [];
    hasData = false;
    type = '';
  }

  function processLine(line) {
    if (line === '') return dispatch();
    if (line[0] === ':') return; // comment / heartbeat
    const c = line.indexOf(':');
    const field = c === -1 ? line : line.slice(0, c);
    let value = c === -1 ? '' : line.slice(c + 1);
    if (value[0] === ' ') value = value.slice(1);
    if (field === 'data') {
      data.push(value);
      hasData = true;
    } else if (field === 'event') {
      type = value;
    } else if (field === 'id') {
      if (!value.includes('\0')) idBuf = value;
    }
  }

  function feed(chunk) {
    if (stopped) return;
    buf += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    if (first && buf) {
      if (buf[0] === '\uFEFF') buf = buf.slice(1);
      first = false;
    }
    if (skipLF && buf) {
      if (buf[0] === '\n') buf = buf.slice(1);
      skipLF = false;
    }
    let m;
    while (!stopped && (m = /\r\n|\r|\n/.exec(buf))) {
      if (m[0] === '\r' && m.index === buf.length - 1) skipLF = true; // maybe a CRLF split across chunks
      processLine(buf.slice(0, m.index));
      buf = buf.slice(m.index + m[0].length);
    }
  }

  return {
    feed,
    stop() {
      stopped = true;
    },
    get lastEventId() {
      return committed;
    },
  };
}
