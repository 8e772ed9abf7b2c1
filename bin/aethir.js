#!/usr/bin/env node
// Runs the CLI from TypeScript sources in a checkout (no build step needed), or from dist/
// in an installed package.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const src = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
let mod;
if (existsSync(src)) {
  const { register } = await import('tsx/esm/api');
  register();
  mod = await import(pathToFileURL(src).href);
} else {
  mod = await import('../dist/cli/main.js');
}
await mod.main(process.argv);
