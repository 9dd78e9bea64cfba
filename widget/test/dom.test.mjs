// appendTree against a tiny fake document: only the Markdown tree's own tags and attributes
// ever reach the DOM, and text is only ever a text node.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';

import { parseMarkdown } from '../src/markdown.js';
import { appendTree } from '../src/view/dom.js';

class FakeNode {
  constructor(tag) {
    this.tag = tag;
    this.attrs = {};
    this.children = [];
    this.className = '';
  }
  setAttribute(k, v) {
    this.attrs[k] = String(v);
  }
  appendChild(n) {
    this.children.push(n);
    return n;
  }
}

const fakeDocument = {
  createElement: (tag) => new FakeNode(tag),
  createTextNode: (text) => ({ text }),
};

const show = (n) =>
  n.text !== undefined ? n.text : [n.tag, ...(n.className ? ['.' + n.className] : []), ...(Object.keys(n.attrs).length ? [n.attrs] : []), ...n.children.map(show)];

describe('appendTree', () => {
  beforeEach(() => {
    globalThis.document = fakeDocument;
  });
  afterEach(() => {
    delete globalThis.document;
  });

  test('builds elements, classes, attributes and text nodes', () => {
    const root = appendTree(new FakeNode('div'), parseMarkdown('**Hi** `x` [a](https://a.test)\n\n```js\n<b>\n```'));
    assert.deepEqual(root.children.map(show), [
      ['p', ['strong', 'Hi'], ' ', ['code', '.cd-code', 'x'], ' ', ['a', { href: 'https://a.test/', target: '_blank', rel: 'noopener noreferrer nofollow' }, 'a']],
      ['pre', '.cd-pre', ['code', { 'data-lang': 'js' }, '<b>']],
    ]);
  });

  test('drops elements and attributes outside the allow-list (defence in depth)', () => {
    const tree = [
      { tag: 'script', cls: null, attrs: null, children: ['alert(1)'] },
      { tag: 'a', cls: null, attrs: { href: 'https://ok.test/', onclick: 'alert(1)', style: 'x' }, children: ['ok'] },
      { tag: 'p', cls: null, attrs: { onmouseover: 'alert(1)' }, children: ['<img src=x onerror=alert(1)>'] },
    ];
    const root = appendTree(new FakeNode('div'), tree);
    assert.deepEqual(root.children.map(show), [['a', { href: 'https://ok.test/' }, 'ok'], ['p', '<img src=x onerror=alert(1)>']]);
  });
});
