import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { defaultLeaseDir } from '../../src/container/runtimes/sandbox.js';

/**
 * The e2e files' $AETHIR_HOMEs, each removed once its file's tests and hooks are done (a devnet's
 * data, its keys, the leases' kept logs: output-flood's alone is 65 MB, every run left ~100 MB in
 * /tmp). AETHIR_KEEP_TEST_HOMES=1 keeps them, to read after a failure.
 */
const homes: string[] = [];

/** A fresh directory under the system's temp directory, for one e2e file. */
export function tempHome(prefix = 'aethir-e2e-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  homes.push(dir);
  return dir;
}

/**
 * Registered by each e2e file's setup (vitest.config.ts): a setup file's afterAll runs after the
 * file's own (vitest stacks "after" hooks), so the devnets the file started have stopped by then.
 */
export function removeTempHomesAfterAll(): void {
  afterAll(() => {
    const mine = homes.splice(0);
    if (keepHomes(process.env.AETHIR_KEEP_TEST_HOMES)) return;
    for (const dir of mine) {
      removeLeaseDirsOf(dir);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

/** Whether AETHIR_KEEP_TEST_HOMES asks to keep the homes: set, and not empty, `0` or `false`. */
export function keepHomes(value: string | undefined): boolean {
  return value !== undefined && !['', '0', 'false'].includes(value.trim().toLowerCase());
}

/**
 * A sandboxing host keeps its leases, apps and checkpoints outside its data directory, in
 * /var/lib/aethir/leases/<hash of the data directory>(-apps, -checkpoints): kept for a real host,
 * whose apps must outlive restarts, but a test's host is gone with its home. Each directory in the
 * home (to `depth` levels) is hashed as a data directory would be, and what is named after it goes.
 */
export function removeLeaseDirsOf(home: string, depth = 4): void {
  const visit = (dir: string, left: number): void => {
    const base = defaultLeaseDir(dir);
    for (const d of [base, `${base}-apps`, `${base}-checkpoints`])
      rmSync(d, { recursive: true, force: true });
    if (left === 0) return;
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) visit(join(dir, e.name), left - 1);
  };
  visit(home, depth);
}
