import { describe, expect, it } from 'vitest';
import { MemoryBus, requestRetrying, subjectMatches } from '../../../src/bus/index.js';
import { AethirError } from '../../../src/core/errors.js';

describe('subjectMatches (NATS semantics)', () => {
  it.each([
    // literal subjects
    ['hb.c1', 'hb.c1', true],
    ['hb.c1', 'hb.c2', false],
    ['hb', 'hb.c1', false],
    ['hb.c1', 'hb', false],
    ['hb.c1.x', 'hb.c1', false],
    // * matches exactly one token
    ['hb.*', 'hb.c1', true],
    ['hb.*', 'hb', false],
    ['hb.*', 'hb.c1.extra', false],
    ['lease.*.log', 'lease.L1.log', true],
    ['lease.*.log', 'lease.L1.exit', false],
    ['lease.*.*', 'lease.L1.exit', true],
    ['lease.*.*', 'lease.L1', false],
    ['*', 'anything', true],
    ['*', 'two.tokens', false],
    ['*.*', 'a.b', true],
    // > matches one or more trailing tokens
    ['lease.>', 'lease.L1', true],
    ['lease.>', 'lease.L1.log', true],
    ['lease.>', 'lease.opened.c1.extra', true],
    ['lease.>', 'lease', false],
    ['>', 'a', true],
    ['>', 'a.b.c', true],
    ['*.>', 'a.b', true],
    ['*.>', 'a', false],
    ['hb.>', 'lease.L1', false],
  ])('%s ~ %s -> %s', (pattern, subject, expected) => {
    expect(subjectMatches(pattern, subject)).toBe(expected);
  });
});

describe('MemoryBus', () => {
  it('delivers synchronously to every matching subscriber, with the subject', () => {
    const bus = new MemoryBus();
    const got: Array<[string, unknown, string]> = [];
    bus.subscribe('hb.*', (d, s) => got.push(['all', d, s]));
    bus.subscribe('hb.c1', (d, s) => got.push(['c1', d, s]));
    bus.subscribe('lease.>', (d, s) => got.push(['lease', d, s]));
    bus.publish('hb.c1', { n: 1 });
    bus.publish('hb.c2', { n: 2 });
    expect(got).toEqual([
      ['all', { n: 1 }, 'hb.c1'],
      ['c1', { n: 1 }, 'hb.c1'],
      ['all', { n: 2 }, 'hb.c2'],
    ]);
  });

  it('publishing with no subscribers is a no-op', () => {
    const bus = new MemoryBus();
    expect(() => bus.publish('nobody.listens', 1)).not.toThrow();
    expect(bus.dropped).toBe(0);
  });

  it('unsubscribe stops delivery to that handler only', () => {
    const bus = new MemoryBus();
    const a: unknown[] = [];
    const b: unknown[] = [];
    const unsubA = bus.subscribe('x', (d) => a.push(d));
    bus.subscribe('x', (d) => b.push(d));
    bus.publish('x', 1);
    unsubA();
    bus.publish('x', 2);
    unsubA(); // idempotent
    bus.publish('x', 3);
    expect(a).toEqual([1]);
    expect(b).toEqual([1, 2, 3]);
  });

  it('the same handler subscribed twice gets the message twice, and each unsubscribes separately', () => {
    const bus = new MemoryBus();
    const got: unknown[] = [];
    const h = (d: unknown) => got.push(d);
    const u1 = bus.subscribe('x', h);
    bus.subscribe('x', h);
    bus.publish('x', 'a');
    u1();
    bus.publish('x', 'b');
    expect(got).toEqual(['a', 'a', 'b']);
  });

  it('a handler subscribing during delivery does not receive the message being delivered', () => {
    const bus = new MemoryBus();
    const late: unknown[] = [];
    bus.subscribe('x', () => {
      if (late.length === 0) bus.subscribe('x', (d) => late.push(d));
    });
    bus.publish('x', 1);
    expect(late).toEqual([]);
    bus.publish('x', 2);
    expect(late).toEqual([2]);
  });

  it('a throwing handler does not stop delivery to the others and is counted as dropped', () => {
    const bus = new MemoryBus();
    const got: string[] = [];
    bus.subscribe('x.*', () => got.push('before'));
    bus.subscribe('x.*', () => {
      throw new Error('boom');
    });
    bus.subscribe('x.*', () => got.push('after'));
    expect(() => bus.publish('x.1', null)).not.toThrow();
    expect(() => bus.publish('x.2', null)).not.toThrow();
    expect(got).toEqual(['before', 'after', 'before', 'after']);
    expect(bus.dropped).toBe(2);
  });
});

describe('requestRetrying: a request lost with a queue member that died', () => {
  it('asks again when no answer came in time, and the group’s next member answers; other failures are final', async () => {
    const bus = new MemoryBus();
    let deadCalls = 0;
    let liveCalls = 0;
    // member 0 takes the request and never answers (an indexer killed mid-match); member 1 is alive
    bus.serve(
      'match.request',
      () => {
        deadCalls++;
        return new Promise(() => {});
      },
      { queue: 'indexers' },
    );
    bus.serve(
      'match.request',
      () => {
        liveCalls++;
        return { container: 'c-1' };
      },
      { queue: 'indexers' },
    );
    // a plain request that lands on the dead member fails (what a rent saw in the faults test)
    await expect(bus.request('match.request', {}, { timeoutMs: 50 })).rejects.toMatchObject({
      code: 'TIMEOUT',
    });
    // (round robin: the next request goes to member 1; one more, so the retried one starts at member 0)
    await bus.request('match.request', {}, { timeoutMs: 50 });
    deadCalls = 0;
    liveCalls = 0;
    expect(await requestRetrying(bus, 'match.request', {}, { timeoutMs: 50 })).toEqual({ container: 'c-1' });
    expect([deadCalls, liveCalls]).toEqual([1, 1]);

    // nobody answers in time: the TIMEOUT after `attempts` tries
    const silent = new MemoryBus();
    let asked = 0;
    silent.serve('offers.request', () => {
      asked++;
      return new Promise(() => {});
    });
    await expect(
      requestRetrying(silent, 'offers.request', {}, { timeoutMs: 20, attempts: 3 }),
    ).rejects.toMatchObject({
      code: 'TIMEOUT',
    });
    expect(asked).toBe(3);

    // an answer that is an error (no match) is the answer: not asked again
    const refusing = new MemoryBus();
    let refused = 0;
    refusing.serve('match.request', () => {
      refused++;
      throw new AethirError('NO_MATCH', 'no container fits');
    });
    await expect(requestRetrying(refusing, 'match.request', {}, { timeoutMs: 50 })).rejects.toMatchObject({
      code: 'NO_MATCH',
    });
    expect(refused).toBe(1);
  });
});
