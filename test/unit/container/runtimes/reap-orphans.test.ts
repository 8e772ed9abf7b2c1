import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HostProcessRuntime } from '../../../../src/container/index.js';

const base = mkdtempSync(join(tmpdir(), 'aethir-reap-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('HostProcessRuntime.reapOrphans (an agent restarted after a crash)', () => {
  it('ends the workloads a previous run left behind, and only those', async () => {
    const before = new HostProcessRuntime({ baseDir: base, now: () => Date.now() });
    const w = await before.start({
      leaseId: 'Lorphan',
      command: ['sh', '-c', 'sleep 1000 & sleep 1000'],
      gpuIndices: [],
    });
    const pid = w.pid!;
    expect(alive(pid)).toBe(true);
    // A stale pid file naming a process that is not a workload (this test runner) is never signalled.
    writeFileSync(join(base, '.Lstale.pid'), String(process.pid));

    // The agent "crashed": a new runtime on the same directory knows nothing of the workload.
    const after = new HostProcessRuntime({ baseDir: base, now: () => Date.now() });
    expect((await after.reapOrphans()).sort()).toEqual(['Lorphan', 'Lstale']);
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    expect(alive(pid)).toBe(false);
    expect(alive(process.pid)).toBe(true);
    expect(existsSync(join(base, 'Lorphan'))).toBe(false);
    expect(await after.reapOrphans()).toEqual([]);
    await w.exited;
  });

  it('leaves its own running workloads alone', async () => {
    const rt = new HostProcessRuntime({ baseDir: base, now: () => Date.now() });
    const w = await rt.start({ leaseId: 'Lmine', command: ['sleep', '1000'], gpuIndices: [] });
    expect(await rt.reapOrphans()).toEqual([]);
    expect(alive(w.pid!)).toBe(true);
    await rt.stopAll();
  });
});
