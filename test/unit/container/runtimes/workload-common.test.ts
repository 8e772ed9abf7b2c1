import { describe, expect, it } from 'vitest';
import type { WorkloadEvent } from '../../../../src/container/runtimes/runtime.js';
import { WorkloadEventLog } from '../../../../src/container/runtimes/workload-common.js';

const out = (data: string): WorkloadEvent => ({ type: 'stdout', data, at: 5 });
const finish = (log: WorkloadEventLog) =>
  log.finish(
    { exitCode: 0, signal: null, reason: 'exited' },
    { remove: async () => {}, what: 'x', onFinished: () => {}, now: () => 9 },
  );

async function all(log: WorkloadEventLog): Promise<WorkloadEvent[]> {
  const got: WorkloadEvent[] = [];
  for await (const e of log.events()) got.push(e);
  return got;
}

describe('WorkloadEventLog: a bounded ring of the output', () => {
  it('replays everything while the output fits the ring', async () => {
    const log = new WorkloadEventLog(100);
    log.emit(out('a'.repeat(60)));
    log.emit(out('b'.repeat(40)));
    await finish(log);
    expect((await all(log)).map((e) => e.type)).toEqual(['stdout', 'stdout', 'exit']);
  });

  it('keeps only the last bytes of a flood, and a replay starts with how many were dropped', async () => {
    const log = new WorkloadEventLog(1024);
    for (let i = 0; i < 10_000; i++) log.emit(out(`${String(i).padStart(9, '0')}\n`)); // 100,000 bytes
    await finish(log);
    const events = await all(log);
    const kept = events.slice(1, -1).map((e) => (e.type === 'exit' ? '' : e.data));
    // The last 102 lines are 1020 bytes, the most that fits in 1024.
    expect(kept).toEqual(Array.from({ length: 102 }, (_, i) => `${String(9898 + i).padStart(9, '0')}\n`));
    expect(events[0]).toEqual({
      type: 'stderr',
      data: `[aethir] ${9898 * 10} bytes of output dropped here (more than 1024 bytes behind)\n`,
      at: 5,
    });
    expect(events.at(-1)).toMatchObject({ type: 'exit', exitCode: 0 });
  });

  it('a reader that falls behind mid-stream gets a marker for exactly what it missed, then goes on', async () => {
    const log = new WorkloadEventLog(20);
    const reader = log.events();
    log.emit(out('0123456789'));
    expect((await reader.next()).value).toEqual(out('0123456789'));
    for (const c of 'abcde') log.emit(out(c.repeat(10)));
    expect((await reader.next()).value).toMatchObject({
      type: 'stderr',
      data: expect.stringContaining('[aethir] 30 bytes of output dropped'),
    });
    expect((await reader.next()).value).toEqual(out('dddddddddd'));
    expect((await reader.next()).value).toEqual(out('eeeeeeeeee'));
    await finish(log);
    expect((await reader.next()).value).toMatchObject({ type: 'exit' });
    expect((await reader.next()).done).toBe(true);
  });
});
