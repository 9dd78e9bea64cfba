// Configuration read once from the embedding <script> tag (its data-* attributes).

import { STRINGS, pickLang } from './i18n.js';

export function findScript(doc) {
  const current = doc.currentScript;
  return current && current.hasAttribute && current.hasAttribute('data-widget-key')
    ? current
    : doc.querySelector('script[data-widget-key]');
}

// The API's base URL: data-api-base if given, else the origin the script was loaded from.
export function resolveApiBase(explicit, src, pageHref, pageOrigin) {
  try {
    if (explicit) {
      const u = new URL(explicit, pageHref);
      return (u.origin + u.pathname).replace(/\/+$/, '');
    }
    return new URL(src, pageHref).origin;
  } catch (_) {
    return pageOrigin;
  }
}

export function readConfig(script, { pageHref, pageOrigin, languages }) {
  const attr = (name) => {
    const v = script.getAttribute('data-' + name);
    return v == null ? '' : String(v).trim();
  };
  const lang = pickLang(attr('lang'), languages);
  const T = STRINGS[lang];
  return {
    widgetKey: attr('widget-key'),
    lang,
    T,
    title: attr('title') || T.title,
    api: resolveApiBase(attr('api-base'), script.src, pageHref, pageOrigin) + '/api/v1',
    userId: attr('user-id'),
    userHash: attr('user-hash'),
    startOpen: attr('open') === 'true',
  };
}
