#!/usr/bin/env node
// Bundles widget/src (ES modules) into the one classic script host pages embed:
// chatbot/static/chatdesk/widget.js (IIFE, minified, committed so the demo needs no build),
// and the staff inbox's script, chatbot/static/chatdesk/inbox.js (widget/src/inbox).
//
//   node widget/build.mjs            build, print raw and gzip sizes
//   node widget/build.mjs --check    rebuild in memory; fail if the committed bundle differs

import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

import * as esbuild from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = path.join(ROOT, 'widget/src/main.js');
const OUT = path.join(ROOT, 'chatbot/static/chatdesk/widget.js');

// Host pages run old and new browsers alike: nothing newer than ES2020 in the output.
const TARGET = 'es2020';
const CSS_TARGET = ['chrome80', 'firefox78', 'safari14'];

const HEADER = `/*! Chatdesk embeddable chat widget. Built from widget/src by esbuild ${esbuild.version}: edit the
 * sources and run \`npm run build\`, never this file.
 *   <script src="https://HOST/static/chatdesk/widget.js" data-widget-key="wk_..." async></script>
 * Options: data-lang="en|zh-Hans", data-api-base, data-user-id + data-user-hash, data-title,
 * data-open="true". Host-page API: window.Chatdesk.open() / close() / newConversation().
 */
"use strict";`;

// `import CSS from './styles.css'` gives the stylesheet, minified, as a string.
const cssAsText = {
  name: 'css-as-text',
  setup(build) {
    build.onLoad({ filter: /\.css$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const { code } = await esbuild.transform(source, { loader: 'css', minify: true, target: CSS_TARGET });
      return { contents: `export default ${JSON.stringify(code.trim())};`, loader: 'js' };
    });
  },
};

const INBOX_ENTRY = path.join(ROOT, 'widget/src/inbox/main.js');
const INBOX_OUT = path.join(ROOT, 'chatbot/static/chatdesk/inbox.js');
const INBOX_HEADER = `/*! Chatdesk staff inbox (/admin/inbox/). Built from widget/src/inbox by esbuild ${esbuild.version}:
 * edit the sources and run \`npm run build\`, never this file.
 */
"use strict";`;

async function bundle(entry = ENTRY, header = HEADER) {
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: 'iife',
    target: TARGET,
    minify: true,
    legalComments: 'none',
    banner: { js: header },
    plugins: [cssAsText],
    write: false,
    logLevel: 'warning',
  });
  return Buffer.from(result.outputFiles[0].contents);
}

const sizes = (buf) => `${buf.length} bytes, ${gzipSync(buf, { level: 9 }).length} gzipped`;

for (const [entry, header, out] of [
  [ENTRY, HEADER, OUT],
  [INBOX_ENTRY, INBOX_HEADER, INBOX_OUT],
]) {
  const built = await bundle(entry, header);
  const relOut = path.relative(ROOT, out);
  if (process.argv.includes('--check')) {
    let committed = null;
    try {
      committed = await readFile(out);
    } catch (_) {
      /* missing: stale by definition */
    }
    if (!committed || !committed.equals(built)) {
      console.error(`${relOut} is stale: it is not what widget/src builds to. Run \`npm run build\` and commit it.`);
      process.exit(1);
    }
    console.log(`${relOut} is up to date (${sizes(built)}).`);
  } else {
    await writeFile(out, built);
    console.log(`${relOut}: ${sizes(built)}`);
  }
}
