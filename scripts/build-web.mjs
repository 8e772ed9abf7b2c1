#!/usr/bin/env node
// Builds the browser console (web/src) into web/dist with esbuild: one script, one stylesheet,
// the page. Everything it needs is bundled from node_modules: the page loads nothing from
// another host. Run by `npm install` (prepare), and by the API node when web/dist is missing.
import { build } from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));

export async function buildWeb({ minify = true } = {}) {
  await rm(root + 'web/dist', { recursive: true, force: true });
  await mkdir(root + 'web/dist', { recursive: true });
  await build({
    entryPoints: { app: root + 'web/src/main.ts' },
    outdir: root + 'web/dist',
    bundle: true,
    format: 'esm',
    // the terminal and the charts load with the pages that show them
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    platform: 'browser',
    target: ['chrome110', 'firefox115', 'safari16'],
    minify,
    legalComments: 'eof',
    logLevel: 'warning',
  });
  await copyFile(root + 'web/index.html', root + 'web/dist/index.html');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildWeb();
