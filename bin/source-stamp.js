// The stamp of a checkout's TypeScript sources: which files there are, their sizes and their times.
// scripts/build-cli.mjs writes it into dist/ after compiling src/ there; bin/aethir.js runs dist/
// only while the stamp still matches the sources, and the sources through tsx otherwise.
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const STAMP_FILE = '.source-stamp';

/** A hash over every file under `srcDir` (relative path, size, modification time), in a fixed order. */
export function sourceStamp(srcDir) {
  const h = createHash('sha256');
  const walk = (dir, rel) => {
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      const p = join(dir, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(p, r);
      else {
        const s = statSync(p);
        h.update(`${r}\0${s.size}\0${s.mtimeMs}\n`);
      }
    }
  };
  walk(srcDir, '');
  return h.digest('hex');
}
