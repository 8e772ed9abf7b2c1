import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LeaseLogFile } from '../../../src/container/output-file.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('LeaseLogFile: the whole output on disk, up to a cap', () => {
  it('writes the output 0600 in a 0700 directory, stops at the cap with a line saying so', () => {
    const base = mkdtempSync(join(tmpdir(), 'aethir-logfile-'));
    dirs.push(base);
    const dir = join(base, 'logs');
    const file = new LeaseLogFile(dir, 'L1', 25);
    file.write({ type: 'stdout', data: 'hello\n', at: 1 });
    file.write({ type: 'stderr', data: 'oops\n', at: 2 });
    file.write({ type: 'stdout', data: 'x'.repeat(20), at: 3 }); // past 25 bytes
    file.write({ type: 'stdout', data: 'more', at: 4 });
    file.write({ type: 'exit', exitCode: 0, signal: null, reason: 'exited', at: 5 });
    expect(readFileSync(file.path, 'utf8')).toBe(
      'hello\noops\nxxxxxxxxxxxxxx\n[aethir] log file full at 25 bytes: the rest is not kept\n',
    );
    expect(file.droppedBytes).toBe(10);
    expect(statSync(file.path).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it('refuses a lease id that could leave its directory', () => {
    const base = mkdtempSync(join(tmpdir(), 'aethir-logfile-'));
    dirs.push(base);
    expect(() => new LeaseLogFile(base, '../escape')).toThrow('invalid lease id "../escape"');
  });
});
