#!/usr/bin/env node
// Runs the CLI. In a checkout: from dist/ when scripts/build-cli.mjs compiled it from the sources
// as they are now (its stamp matches; `npm start` and `npm test` compile first), else from the
// TypeScript sources through tsx, so an edit takes effect at once. AETHIR_FROM_SOURCE=1 always runs
// the sources. In an installed package (no src/): from dist/.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { sourceStamp, STAMP_FILE } from './source-stamp.js';

const src = fileURLToPath(new URL('../src/', import.meta.url));
const dist = fileURLToPath(new URL('../dist/', import.meta.url));

function compiledIsCurrent() {
  if (process.env.AETHIR_FROM_SOURCE === '1') return false;
  try {
    return readFileSync(`${dist}${STAMP_FILE}`, 'utf8').trim() === sourceStamp(src);
  } catch {
    return false;
  }
}

let mod;
if (existsSync(`${src}cli/main.ts`) && !compiledIsCurrent()) {
  const { register } = await import('tsx/esm/api');
  register();
  mod = await import(pathToFileURL(`${src}cli/main.ts`).href);
} else {
  mod = await import('../dist/cli/main.js');
}
await mod.main(process.argv);
