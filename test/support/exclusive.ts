/**
 * A lock between test files that vitest runs at the same time (two workers in `npm test`): the ones
 * on the loopback registry take `registry`. A lock is a directory holding its owner's pid, so one
 * left by a killed worker is taken over.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive } from '../../src/container/runtimes/sandbox.js';

const DIR = join(tmpdir(), 'aethir-test-locks');

/** Waits until `name` is free, takes it, and resolves with its release. */
export async function exclusive(name: string, timeoutMs = 900_000): Promise<() => void> {
  mkdirSync(DIR, { recursive: true });
  const path = join(DIR, name);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(path);
      writeFileSync(join(path, 'pid'), String(process.pid));
      let held = true;
      return () => {
        if (held) rmSync(path, { recursive: true, force: true });
        held = false;
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let owner = NaN;
    try {
      owner = Number(readFileSync(join(path, 'pid'), 'utf8'));
    } catch {
      // being made or removed right now: look again
    }
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && !alive(owner))
      rmSync(path, { recursive: true, force: true });
    else if (Date.now() > deadline) throw new Error(`the test lock ${name} was not free in ${timeoutMs} ms`);
    else await new Promise((r) => setTimeout(r, 250));
  }
}
