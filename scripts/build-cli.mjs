#!/usr/bin/env node
// Compiles src/ to dist/ (esbuild, one file each, the same transform tsx applies) and stamps it
// with the sources' stamp, so bin/aethir.js starts from JavaScript (about half the CPU of a start
// through tsx) for as long as the sources stay as they were. Files are written only where they
// changed, each whole (a temporary file renamed over it), and the stamp last: a CLI starting
// meanwhile runs either the sources or a whole compiled tree. `npm run build` (tsc) is the package's
// build; this is the checkout's.
//   node scripts/build-cli.mjs [--quiet]
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Buffer } from 'node:buffer';
import { dirname, join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { sourceStamp, STAMP_FILE } from '../bin/source-stamp.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SRC = join(ROOT, 'src');
const DIST = join(ROOT, 'dist');

function sameFile(path, bytes) {
  try {
    return readFileSync(path).equals(bytes);
  } catch {
    return false;
  }
}

function writeWhole(path, bytes) {
  if (sameFile(path, bytes)) return false;
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
  return true;
}

export async function buildCli({ quiet = false } = {}) {
  const t0 = performance.now();
  const stamp = sourceStamp(SRC); // before reading: an edit during the build leaves the stamp stale
  const ts = [];
  const other = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else (p.endsWith('.ts') ? ts : other).push(p);
    }
  };
  walk(SRC);
  const out = await build({
    entryPoints: ts,
    outdir: DIST,
    outbase: SRC,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    bundle: false,
    write: false,
    logLevel: 'error',
  });
  let written = 0;
  for (const f of out.outputFiles) if (writeWhole(f.path, Buffer.from(f.contents))) written++;
  for (const p of other) {
    const to = join(DIST, relative(SRC, p));
    if (!sameFile(to, readFileSync(p))) {
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(p, `${to}.${process.pid}.tmp`);
      renameSync(`${to}.${process.pid}.tmp`, to);
      written++;
    }
  }
  writeWhole(join(DIST, STAMP_FILE), Buffer.from(`${stamp}\n`));
  if (!quiet)
    console.log(
      `build-cli: ${ts.length + other.length} files of src/ in dist/ (${written} written) in ${Math.round(performance.now() - t0)} ms`,
    );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await buildCli({ quiet: process.argv.includes('--quiet') });
}
