import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { readConfig, resolveApiBase } from '../src/config.js';
import { STRINGS, fmt, pickLang } from '../src/i18n.js';

describe('language', () => {
  test('data-lang wins; otherwise the first browser language the widget speaks; else English', () => {
    assert.equal(pickLang('zh-Hans', ['en-US']), 'zh-Hans');
    assert.equal(pickLang('zh-TW', []), 'zh-Hans');
    assert.equal(pickLang('fr', ['zh-CN']), 'en'); // an explicit unknown language: English
    assert.equal(pickLang('', ['fr-FR', 'zh-CN', 'en']), 'zh-Hans');
    assert.equal(pickLang('', ['fr-FR', 'de']), 'en');
    assert.equal(pickLang('', undefined), 'en');
  });

  test('placeholders are filled, with a singular form where there is one', () => {
    assert.equal(fmt(STRINGS.en, 'counter', { n: 3990, max: 4000 }), '3990 / 4000');
    assert.equal(fmt(STRINGS.en, 'overLimit', { k: 1 }), '1 character too many');
    assert.equal(fmt(STRINGS.en, 'overLimit', { k: 12 }), '12 characters too many');
    assert.equal(fmt(STRINGS['zh-Hans'], 'overLimit', { k: 12 }), '超出 12 个字符');
  });

  test('every language has every string', () => {
    const keys = Object.keys(STRINGS.en).sort();
    for (const [lang, strings] of Object.entries(STRINGS)) {
      assert.deepEqual(Object.keys(strings).sort(), keys, lang);
      for (const k of keys) assert.ok(strings[k], `${lang}.${k}`);
    }
  });
});

describe('configuration from the script tag', () => {
  test('the API is where the script came from, unless data-api-base says otherwise', () => {
    const page = 'https://shop.test/help?x=1';
    assert.equal(resolveApiBase('', 'https://chat.test/static/chatdesk/widget.js', page, 'https://shop.test'), 'https://chat.test');
    assert.equal(resolveApiBase('https://api.test/chat///', 'https://chat.test/w.js', page, 'https://shop.test'), 'https://api.test/chat');
    assert.equal(resolveApiBase('/proxy/', 'https://chat.test/w.js', page, 'https://shop.test'), 'https://shop.test/proxy');
    assert.equal(resolveApiBase('http://[bad', '', page, 'https://shop.test'), 'https://shop.test');
  });

  test('attributes are trimmed; the title falls back to the language default', () => {
    const attrs = { 'data-widget-key': ' wk_1 ', 'data-lang': 'zh', 'data-open': 'true', 'data-user-id': '42' };
    const script = { src: 'https://chat.test/static/chatdesk/widget.js', getAttribute: (n) => attrs[n] ?? null };
    const cfg = readConfig(script, { pageHref: 'https://shop.test/', pageOrigin: 'https://shop.test', languages: ['en'] });
    assert.equal(cfg.widgetKey, 'wk_1');
    assert.equal(cfg.lang, 'zh-Hans');
    assert.equal(cfg.title, STRINGS['zh-Hans'].title);
    assert.equal(cfg.api, 'https://chat.test/api/v1');
    assert.equal(cfg.startOpen, true);
    assert.equal(cfg.userId, '42');
    assert.equal(cfg.userHash, '');
  });
});
