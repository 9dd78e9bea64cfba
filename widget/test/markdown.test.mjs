import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { LINK_REL, parseMarkdown, safeUrl, textOf } from '../src/markdown.js';

const md = (src) => parseMarkdown(src, { imageLabel: 'Image' });

// A compact, readable form of the tree: ['p', 'text', ['strong', 'bold']]; attrs in {…}.
function show(nodes) {
  return nodes.map((n) => {
    if (typeof n === 'string') return n;
    const out = [n.tag];
    if (n.attrs) out.push(n.attrs);
    return out.concat(show(n.children));
  });
}

const link = (href, ...children) => ['a', { href, target: '_blank', rel: LINK_REL }, ...children];

// Every element and attribute the renderer may ever produce.
const TAGS = new Set(['p', 'strong', 'em', 'code', 'pre', 'a', 'ul', 'ol', 'li', 'blockquote', 'hr', 'br']);
const ATTRS = { a: ['href', 'target', 'rel'], ol: ['start'], code: ['data-lang'] };
function assertOnlySafeNodes(nodes) {
  for (const n of nodes) {
    if (typeof n === 'string') continue;
    assert.ok(TAGS.has(n.tag), `unexpected <${n.tag}>`);
    for (const k of Object.keys(n.attrs || {})) assert.ok((ATTRS[n.tag] || []).includes(k), `${n.tag}[${k}]`);
    if (n.tag === 'a') assert.match(n.attrs.href, /^(https?|mailto):/);
    assertOnlySafeNodes(n.children);
  }
}

describe('Markdown: blocks', () => {
  test('paragraphs split on blank lines; single newlines are line breaks', () => {
    assert.deepEqual(show(md('one\ntwo\n\nthree')), [['p', 'one', ['br'], 'two'], ['p', 'three']]);
  });

  test('bullet and numbered lists, a start number, continuation lines', () => {
    assert.deepEqual(show(md('- a\n- b\n  more\n\n3. c\n4) d')), [
      ['ul', ['li', 'a'], ['li', 'b', ['br'], 'more']],
      ['ol', { start: '3' }, ['li', 'c'], ['li', 'd']],
    ]);
    assert.deepEqual(show(md('1. x\n2. y')), [['ol', ['li', 'x'], ['li', 'y']]]);
  });

  test('fenced code keeps its text verbatim, HTML included; an unclosed fence runs to the end', () => {
    assert.deepEqual(show(md("```python\nprint('<b>hi</b>')\n  **not bold**\n```\nafter")), [
      ['pre', ['code', { 'data-lang': 'python' }, "print('<b>hi</b>')\n  **not bold**"]],
      ['p', 'after'],
    ]);
    assert.deepEqual(show(md('~~~\nopen')), [['pre', ['code', 'open']]]);
  });

  test('headings become bold paragraphs; quotes and rules', () => {
    assert.deepEqual(show(md('## Title ##\n> quoted\n> more\n\n---')), [
      ['p', ['strong', 'Title']],
      ['blockquote', 'quoted', ['br'], 'more'],
      ['hr'],
    ]);
  });
});

describe('Markdown: inline', () => {
  test('strong, emphasis and code spans', () => {
    assert.deepEqual(show(md('**b** *i* __B__ _I_ `c` ``a`b``')), [
      ['p', ['strong', 'b'], ' ', ['em', 'i'], ' ', ['strong', 'B'], ' ', ['em', 'I'], ' ', ['code', 'c'], ' ', ['code', 'a`b']],
    ]);
  });

  test('underscores inside words and unmatched delimiters stay text', () => {
    assert.deepEqual(show(md('snake_case_name and 2 * 3 and *open')), [['p', 'snake_case_name and 2 * 3 and *open']]);
  });

  test('backslash escapes', () => {
    assert.deepEqual(show(md('\\*not em\\* \\[x\\](y)')), [['p', '*not em* [x](y)']]);
  });

  test('links: http, https and mailto only; others keep their label as text', () => {
    const out = md(
      '[docs](https://example.com/docs "Title") [us](mailto:help@example.com) ' +
        '[bad](javascript:alert(1)) [data](data:text/html,x) [vb](vbscript:msgbox(1)) [rel](/relative)'
    );
    assert.deepEqual(show(out), [
      [
        'p',
        link('https://example.com/docs', 'docs'),
        ' ',
        link('mailto:help@example.com', 'us'),
        ' ',
        'bad',
        ' ',
        'data',
        ' ',
        'vb',
        ' ',
        'rel',
      ],
    ]);
  });

  test('bare URLs become links without trailing punctuation, with balanced parentheses', () => {
    assert.deepEqual(show(md('See https://example.org/path?q=1. Or (https://en.wikipedia.org/wiki/A_(b)).')), [
      [
        'p',
        'See ',
        link('https://example.org/path?q=1', 'https://example.org/path?q=1'),
        '. Or (',
        link('https://en.wikipedia.org/wiki/A_(b)', 'https://en.wikipedia.org/wiki/A_(b)'),
        ').',
      ],
    ]);
  });

  test('images are never loaded: an http(s) image is a link, any other is its label', () => {
    assert.deepEqual(show(md('![chart](https://x.test/c.png) ![](http://x.test/t.png) ![x](data:image/png;base64,AA)')), [
      ['p', ['a', { href: 'https://x.test/c.png', target: '_blank', rel: LINK_REL }, 'chart'], ' ', link('http://x.test/t.png', 'Image'), ' ', 'x'],
    ]);
    assert.deepEqual(show(md('![]()')), [['p', 'Image']]);
    assert.equal(md('![a](https://x.test/i.png)')[0].children[0].cls, 'cd-img-link');
  });

  test('no link inside a link', () => {
    assert.deepEqual(show(md('[see https://b.test](https://a.test)')), [['p', link('https://a.test/', 'see https://b.test')]]);
  });
});

describe('Markdown: plain text', () => {
  test('one line per block, for screen-reader announcements', () => {
    assert.equal(textOf(md('Hi **there**,\nsee [docs](https://d.test).\n\n- one\n- two\n\n```\ncode\n```')), 'Hi there,\nsee docs.\none\ntwo\ncode');
  });
});

describe('Markdown: untrusted input', () => {
  test('raw HTML is text, never markup', () => {
    const src = 'Hi <script>window.__pwned=1</script> <img src=x onerror="window.__pwned=1"> <iframe src="/frame">';
    const out = md(src);
    assert.deepEqual(show(out), [['p', src]]);
    assertOnlySafeNodes(out);
  });

  test('a hostile mix yields only safe elements and attributes', () => {
    const out = md(
      '[x](javascript:alert(1)) ![y](javascript:alert(1)) <a href="javascript:1">z</a>\n' +
        '- [**ok**](https://ok.test) `<b>` [m](MAILTO:a@b.test) [h](HTTPS://UP.test)\n' +
        '```"><script>\n<svg onload=alert(1)>\n```'
    );
    assertOnlySafeNodes(out);
    assert.match(textOf(out), /<svg onload=alert\(1\)>/);
  });

  test('safeUrl normalises allowed URLs and refuses the rest', () => {
    assert.equal(safeUrl('  HTTPS://Example.COM/a b '), 'https://example.com/a%20b');
    assert.equal(safeUrl('mailto:x@y.test'), 'mailto:x@y.test');
    for (const bad of ['javascript:alert(1)', 'JaVaScRiPt:1', 'data:text/html,1', '//evil.test', '/rel', 'ftp://x.test', '']) {
      assert.equal(safeUrl(bad), null, bad);
    }
  });

  test('adversarial input stays fast (bounded scans, no quadratic blow-up)', () => {
    for (const src of ['*'.repeat(50000), '_a'.repeat(30000), '`'.repeat(20000) + 'x', '['.repeat(30000), '[a]('.repeat(10000), '**a '.repeat(20000)]) {
      const t0 = performance.now();
      md(src);
      const ms = performance.now() - t0;
      assert.ok(ms < 1500, `${JSON.stringify(src.slice(0, 8))}… took ${ms.toFixed(0)} ms`);
    }
  });
});
