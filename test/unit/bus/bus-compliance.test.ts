import { describe, expect, it } from 'vitest';
import { MemoryBus } from '../../../src/bus/index.js';
import { describeBusCompliance } from './bus-compliance.js';

describeBusCompliance('MemoryBus', async () => new MemoryBus());
describeBusCompliance('MemoryBus (validate)', async () => new MemoryBus({ validate: true }), {
  validates: true,
});

describe('MemoryBus request/reply specifics', () => {
  it('shares a queue group round robin, per subject, next to servers without a group', async () => {
    const bus = new MemoryBus();
    const calls: string[] = [];
    for (const name of ['a', 'b', 'c']) bus.serve('rpc.x', () => void calls.push(name), { queue: 'q' });
    // Same queue name on another subject is another group.
    bus.serve('rpc.y', () => void calls.push('y'), { queue: 'q' });
    bus.serve('rpc.x', () => void calls.push('free'));
    for (let i = 0; i < 6; i++) await bus.request('rpc.x', i);
    expect(calls.filter((c) => c !== 'free')).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
    expect(calls.filter((c) => c === 'free')).toHaveLength(6);
  });

  it('never runs a responder inside the requester’s call stack', () => {
    const bus = new MemoryBus();
    let ran = false;
    bus.serve('rpc.sync', () => {
      ran = true;
    });
    const p = bus.request('rpc.sync', null);
    expect(ran).toBe(false);
    return p;
  });

  it('stays trusting without validate: any shape reaches the handler', () => {
    const bus = new MemoryBus();
    const got: unknown[] = [];
    bus.subscribe('hb.*', (d) => got.push(d));
    bus.publish('hb.c1', { nonsense: true });
    expect(got).toEqual([{ nonsense: true }]);
    expect(bus.stats().droppedMalformed).toBe(0);
  });

  it('with validate, a malformed match reply is refused with INTERNAL and counted', async () => {
    const bus = new MemoryBus({ validate: true });
    bus.serve('match.request', () => 'not an object');
    await expect(bus.request('match.request', {})).rejects.toMatchObject({ code: 'INTERNAL' });
    expect(bus.stats()).toMatchObject({ droppedMalformed: 1, malformedByKind: { match: 1 } });
  });
});
