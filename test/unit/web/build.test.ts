import { spawn } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DIST = join(ROOT, 'web/dist');

/** `node scripts/build-web.mjs`, as npm install and the e2e files run it; resolves with its exit code. */
function buildInChild(): Promise<number | null> {
  const child = spawn(process.execPath, [join(ROOT, 'scripts/build-web.mjs')], { stdio: 'ignore' });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
}

describe('scripts/build-web.mjs', () => {
  it('a console served from web/dist while other processes rebuild it never misses a file nor reads half of one', async () => {
    await expect(buildInChild()).resolves.toBe(0);
    const page = ['index.html', 'app.js', 'app.css'];
    const chunks = (await readdir(join(DIST, 'chunks'))).map((c) => `chunks/${c}`);
    expect(chunks.length).toBeGreaterThan(0);
    const whole = new Map<string, Buffer>();
    for (const f of [...page, ...chunks]) whole.set(f, await readFile(join(DIST, f)));
    // a chunk an earlier build left behind (another hash) is cleared by the next build
    const stale = join(DIST, 'chunks/old-ABCDEFGH.js');
    await writeFile(stale, 'export {}');

    // three builds at once, as two e2e files and a node finding web/dist missing could start them
    let building = true;
    const builds = Promise.all([buildInChild(), buildInChild(), buildInChild()]).finally(() => {
      building = false;
    });
    const misses: string[] = [];
    let reads = 0;
    while (building) {
      for (const [f, body] of whole) {
        const got = await readFile(join(DIST, f)).catch((e: NodeJS.ErrnoException) => e.code ?? 'error');
        reads++;
        if (typeof got === 'string') misses.push(`${f}: ${got}`);
        else if (!got.equals(body)) misses.push(`${f}: ${got.length} of ${body.length} bytes`);
      }
    }
    expect(await builds).toEqual([0, 0, 0]);
    expect(reads).toBeGreaterThan(whole.size);
    expect(misses).toEqual([]);
    // the same sources build the same files, and nothing else is left there
    expect((await readdir(join(DIST, 'chunks'))).sort()).toEqual(chunks.map((c) => c.slice(7)).sort());
    expect((await readdir(DIST)).sort()).toEqual(['app.css', 'app.js', 'chunks', 'index.html']);
  }, 60_000);
});
