#!/usr/bin/env node
// Builds the browser console (web/src) into web/dist with esbuild: one script, one stylesheet,
// the page. Everything it needs is bundled from node_modules: the page loads nothing from
// another host. Run by `npm install` (prepare), and by the API node when web/dist is missing.
//
// Each file is written beside its place and renamed onto it, so a node serving web/dist while
// another process builds it (two e2e files at once, or a developer rebuilding under a running
// devnet) reads the old file or the new one, never a missing or half-written one.
import { build } from 'esbuild';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const TMP = /\.[0-9a-f]{16}\.tmp$/;

async function writeAtomically(path, contents) {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${randomBytes(8).toString('hex')}.tmp`;
  await writeFile(tmp, contents);
  await rename(tmp, path);
}

/** Every file under dir, relative to it (none when dir is missing). */
async function filesUnder(dir) {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath ?? e.path, e.name)));
}

export async function buildWeb({ minify = true } = {}) {
  const outdir = join(root, 'web/dist');
  const { outputFiles } = await build({
    entryPoints: { app: join(root, 'web/src/main.ts') },
    outdir,
    write: false,
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
  const written = new Set();
  for (const f of outputFiles) {
    await writeAtomically(f.path, f.contents);
    written.add(relative(outdir, f.path));
  }
  await writeAtomically(join(outdir, 'index.html'), await readFile(join(root, 'web/index.html')));
  written.add('index.html');
  // what an earlier build left that this one did not write (old chunks); another build's
  // half-written files are its own to rename
  for (const file of await filesUnder(outdir)) {
    if (!written.has(file) && !TMP.test(file)) await rm(join(outdir, file), { force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildWeb();
