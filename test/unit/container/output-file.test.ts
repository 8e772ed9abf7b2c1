import { appendFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LeaseLogFile, readLeaseLog } from '../../../src/container/output-file.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('LeaseLogFile: the whole output on disk, up to a cap', () => {
  it('writes the output as JSON events 0600 in a 0700 directory, stops at the cap with a line saying so, the exit last', () => {
    const base = mkdtempSync(join(tmpdir(), 'aethir-logfile-'));
    dirs.push(base);
    const dir = join(base, 'logs');
    const file = new LeaseLogFile(dir, 'L1', 120);
    file.write({ type: 'stdout', data: 'hello\n', at: 1 });
    file.write({ type: 'stderr', data: 'oops\n', at: 2 });
    file.write({ type: 'stdout', data: 'x'.repeat(40), at: 3 }); // past 120 bytes of file
    file.write({ type: 'stdout', data: 'more', at: 4 });
    file.write({ type: 'exit', exitCode: 0, signal: null, reason: 'exited', at: 5 });
    const page = readLeaseLog(dir, 'L1', 0)!;
    expect(page.next).toBe(page.size);
    expect(page.events.slice(0, 2)).toEqual([
      { type: 'stdout', data: 'hello\n', at: 1 },
      { type: 'stderr', data: 'oops\n', at: 2 },
    ]);
    const kept = page.events[2]!;
    expect(kept).toMatchObject({ type: 'stdout', at: 3 });
    const keptBytes = (kept as { data: string }).data.length;
    expect(keptBytes).toBeGreaterThan(0);
    expect(keptBytes).toBeLessThan(40);
    expect(page.events[3]).toMatchObject({
      type: 'stderr',
      data: expect.stringContaining('log file full at 120 bytes'),
    });
    expect(page.events[4]).toEqual({ type: 'exit', exitCode: 0, signal: null, reason: 'exited', at: 5 });
    expect(file.droppedBytes).toBe(40 - keptBytes + 4);
    expect(statSync(file.path).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it('reads back in pages of whole lines; a long event takes several short lines; no file: null', () => {
    const base = mkdtempSync(join(tmpdir(), 'aethir-logfile-'));
    dirs.push(base);
    const file = new LeaseLogFile(base, 'L2');
    const big = 'ü'.repeat(30_000);
    file.write({ type: 'stdout', data: big, at: 1 });
    for (let i = 0; i < 100; i++) file.write({ type: 'stdout', data: `line ${i}\n`, at: 2 + i });
    const got: string[] = [];
    let offset = 0;
    let pages = 0;
    for (;;) {
      const p = readLeaseLog(base, 'L2', offset, 4096)!;
      pages++;
      for (const e of p.events) got.push((e as { data: string }).data);
      if (p.next === p.size) break;
      expect(p.next).toBeGreaterThan(offset);
      offset = p.next;
    }
    expect(pages).toBeGreaterThan(2);
    expect(got.join('')).toBe(big + Array.from({ length: 100 }, (_, i) => `line ${i}\n`).join(''));
    expect(readLeaseLog(base, 'L9', 0)).toBeNull();
    expect(() => readLeaseLog(base, '../L2', 0)).toThrow('invalid lease id');
    // a torn last line (a crash mid-write) is left for later, not misread
    appendFileSync(file.path, '{"type":"stdout","at":9');
    const last = readLeaseLog(base, 'L2', 0, 1 << 20)!;
    expect(last.next).toBeLessThan(last.size);
  });

  it('refuses a lease id that could leave its directory', () => {
    const base = mkdtempSync(join(tmpdir(), 'aethir-logfile-'));
    dirs.push(base);
    expect(() => new LeaseLogFile(base, '../escape')).toThrow('invalid lease id "../escape"');
  });
});

describe('LeaseLogFile append (a lease resumed after a pause)', () => {
  it('goes on after what the file holds, the cap counting it; the reader sees one stream', () => {
    const base = mkdtempSync(join(tmpdir(), 'aethir-logfile-'));
    dirs.push(base);
    const first = new LeaseLogFile(base, 'L3', 200);
    first.write({ type: 'stdout', data: 'before the pause\n', at: 1 });
    first.close(); // paused: no exit line
    const again = new LeaseLogFile(base, 'L3', 200, () => {}, true);
    again.write({ type: 'stdout', data: 'after the top-up\n', at: 2 });
    again.write({ type: 'stdout', data: 'y'.repeat(300), at: 3 }); // past the cap, counting both runs
    again.write({ type: 'exit', exitCode: 0, signal: null, reason: 'exited', at: 4 });
    const page = readLeaseLog(base, 'L3', 0)!;
    const data = page.events.map((e) => (e.type === 'exit' ? '<exit>' : e.data)).join('');
    expect(data).toMatch(/^before the pause\nafter the top-up\ny+\n\[aethir\] log file full at 200 bytes/);
    expect(data.endsWith('<exit>')).toBe(true);
    expect(statSync(again.path).size).toBeLessThan(400);
  });
});
