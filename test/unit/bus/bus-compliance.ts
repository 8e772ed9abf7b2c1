import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Bus } from '../../../src/bus/index.js';
import type { HeartbeatMsg } from '../../../src/container/index.js';
import { AethirError } from '../../../src/core/errors.js';

export type OpenBus = () => Promise<Bus & { close?(): Promise<void> }>;

export interface ComplianceOptions {
  /** the bus checks messages against their subject's schema (NatsBus, MemoryBus with validate) */
  validates?: boolean;
}

/** Polls `check` until it stops throwing; delivery over a network is asynchronous. */
export async function eventually(check: () => void, timeoutMs = 5_000, intervalMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}

function heartbeat(container: string, at = 1): HeartbeatMsg {
  return { container, at, freeGpus: 1, runningLeases: 0 };
}

/**
 * What every Bus must do, whatever carries it. Nothing here relies on synchronous delivery: to
 * show that a message did NOT arrive, a later message is published to a probe and awaited, which
 * over NATS works because one connection's messages are delivered in order.
 */
export function describeBusCompliance(name: string, open: OpenBus, opts: ComplianceOptions = {}): void {
  describe(`${name}: Bus compliance`, () => {
    let bus: Bus & { close?(): Promise<void> };

    beforeEach(async () => {
      bus = await open();
    });
    afterEach(async () => {
      await bus.close?.();
    });

    it('delivers to exact, * and > subscribers, with the subject', async () => {
      const got: string[] = [];
      bus.subscribe('t.a.b', (d, s) => got.push(`exact ${s} ${String(d)}`));
      bus.subscribe('t.*.b', (d, s) => got.push(`star ${s} ${String(d)}`));
      bus.subscribe('t.>', (d, s) => got.push(`gt ${s} ${String(d)}`));
      bus.subscribe('t.*', (d, s) => got.push(`star1 ${s} ${String(d)}`));
      bus.publish('t.a.b', 1);
      bus.publish('t.x.b', 2);
      bus.publish('t.a', 3);
      bus.publish('u.a.b', 4);
      await eventually(() => expect(got).toHaveLength(7));
      expect([...got].sort()).toEqual(
        [
          'exact t.a.b 1',
          'star t.a.b 1',
          'gt t.a.b 1',
          'star t.x.b 2',
          'gt t.x.b 2',
          'gt t.a 3',
          'star1 t.a 3',
        ].sort(),
      );
    });

    it('carries JSON values, bigints and strings that look like encoded ones unchanged', async () => {
      const got: unknown[] = [];
      bus.subscribe('v.*', (d) => got.push(d));
      const value = {
        big: 10n ** 30n,
        neg: -5n,
        hashy: '#123',
        slashy: '\\x',
        list: [1, 'a', null, true, { n: 2n }],
        nested: { a: { b: 0.5 } },
      };
      bus.publish('v.1', value);
      bus.publish('v.2', 'plain');
      bus.publish('v.3', null);
      await eventually(() => expect(got).toHaveLength(3));
      expect(got).toEqual([value, 'plain', null]);
    });

    it('unsubscribe stops delivery to that handler only, and is idempotent', async () => {
      const a: unknown[] = [];
      const b: unknown[] = [];
      const unsubA = bus.subscribe('x', (d) => a.push(d));
      bus.subscribe('x', (d) => b.push(d));
      bus.publish('x', 1);
      await eventually(() => expect([a, b]).toEqual([[1], [1]]));
      unsubA();
      unsubA();
      bus.publish('x', 2);
      await eventually(() => expect(b).toEqual([1, 2]));
      expect(a).toEqual([1]);
    });

    it('a throwing or rejecting handler does not stop delivery to the others and is counted', async () => {
      const got: string[] = [];
      const before = bus.stats().dropped;
      bus.subscribe('boom.*', () => got.push('before'));
      bus.subscribe('boom.*', () => {
        throw new Error('boom');
      });
      bus.subscribe('boom.*', async () => {
        throw new Error('async boom');
      });
      bus.subscribe('boom.*', () => got.push('after'));
      expect(() => bus.publish('boom.1', null)).not.toThrow();
      expect(() => bus.publish('boom.2', null)).not.toThrow();
      await eventually(() => expect(got).toHaveLength(4));
      await eventually(() => expect(bus.stats().dropped - before).toBe(4));
      expect(got.filter((g) => g === 'before')).toHaveLength(2);
    });

    it('request/reply: the responder sees data and subject, the requester gets its answer', async () => {
      bus.serve('rpc.echo.*', (d, s) => ({ got: d, subject: s }));
      await expect(bus.request('rpc.echo.one', { price: 7n })).resolves.toEqual({
        got: { price: 7n },
        subject: 'rpc.echo.one',
      });
      bus.serve('rpc.async', async (d) => {
        await new Promise((r) => setTimeout(r, 5));
        return (d as number) * 2;
      });
      await expect(bus.request('rpc.async', 21)).resolves.toBe(42);
      bus.serve('rpc.void', () => undefined);
      await expect(bus.request('rpc.void', null)).resolves.toBeNull();
    });

    it('a queue group answers each of 20 requests with exactly one member', async () => {
      const calls = [0, 0, 0];
      calls.forEach((_, i) =>
        bus.serve(
          'rpc.work',
          () => {
            calls[i]!++;
            return i;
          },
          { queue: 'workers' },
        ),
      );
      const answers = await Promise.all(Array.from({ length: 20 }, () => bus.request('rpc.work', {})));
      expect(answers.every((a) => a === 0 || a === 1 || a === 2)).toBe(true);
      // Let any duplicate delivery surface before counting.
      await bus.request('rpc.work', {});
      expect(calls.reduce((x, y) => x + y, 0)).toBe(21);
    });

    it('without a queue group every server gets the request and the first answer wins', async () => {
      const seen: string[] = [];
      bus.serve('rpc.all', () => {
        seen.push('fast');
        return 'fast';
      });
      bus.serve('rpc.all', async () => {
        seen.push('slow');
        await new Promise((r) => setTimeout(r, 50));
        return 'slow';
      });
      await expect(bus.request('rpc.all', null)).resolves.toBe('fast');
      await eventually(() => expect([...seen].sort()).toEqual(['fast', 'slow']));
    });

    it("a responder's AethirError reaches the requester with its code and message", async () => {
      bus.serve('rpc.fail', () => {
        throw new AethirError('NO_MATCH', 'no container fits: 8 GPUs asked');
      });
      const e = await bus.request('rpc.fail', {}).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(AethirError);
      expect(e).toMatchObject({
        code: 'NO_MATCH',
        message: 'no container fits: 8 GPUs asked',
        retryable: true,
      });
    });

    it('any other responder failure arrives as INTERNAL, without its message, and is counted', async () => {
      const before = bus.stats().dropped;
      bus.serve('rpc.bug', async () => {
        throw new TypeError('secret internals');
      });
      const e = await bus.request('rpc.bug', {}).catch((x: unknown) => x);
      expect(e).toMatchObject({ code: 'INTERNAL' });
      expect((e as Error).message).not.toContain('secret');
      expect(bus.stats().dropped - before).toBe(1);
    });

    it('a request nobody serves fails fast with UNAVAILABLE (retryable)', async () => {
      const started = Date.now();
      const e = await bus.request('rpc.nobody', {}, { timeoutMs: 4_000 }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(AethirError);
      expect(e).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
      expect(Date.now() - started).toBeLessThan(3_000);
    });

    it('a stopped responder no longer answers', async () => {
      const stop = bus.serve('rpc.stop', () => 'here');
      await expect(bus.request('rpc.stop', null)).resolves.toBe('here');
      stop();
      stop();
      await expect(bus.request('rpc.stop', null, { timeoutMs: 2_000 })).rejects.toMatchObject({
        code: 'UNAVAILABLE',
      });
    });

    it('a responder that never answers makes the request fail with TIMEOUT', async () => {
      bus.serve('rpc.hang', () => new Promise(() => {}));
      const started = Date.now();
      const e = await bus.request('rpc.hang', {}, { timeoutMs: 150 }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(AethirError);
      expect(e).toMatchObject({ code: 'TIMEOUT', retryable: true });
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    });

    if (opts.validates) {
      it('drops and counts a message that fails its subject schema; the handler never sees it', async () => {
        const got: unknown[] = [];
        bus.subscribe('hb.*', (d) => got.push(d));
        bus.publish('hb.c1', { container: 'c1', at: 'yesterday', freeGpus: 1, runningLeases: 0 });
        bus.publish('hb.c1', heartbeat('c2')); // names another container than its subject
        bus.publish('hb.c1', heartbeat('c1'));
        await eventually(() => expect(got).toEqual([heartbeat('c1')]));
        expect(bus.stats()).toMatchObject({ droppedMalformed: 2, malformedByKind: { hb: 2 } });
      });

      it('unknown fields are stripped, so handlers only see the declared shape', async () => {
        const got: unknown[] = [];
        bus.subscribe('lease.*.log', (d) => got.push(d));
        bus.publish('lease.L1.log', { lease: 'L1', type: 'stdout', data: 'hi', at: 1, extra: 'x' });
        await eventually(() => expect(got).toEqual([{ lease: 'L1', type: 'stdout', data: 'hi', at: 1 }]));
      });

      it('a malformed match request is refused with INVALID_ARGUMENT before the responder runs', async () => {
        let called = 0;
        bus.serve('match.request', () => {
          called++;
          return {};
        });
        await expect(bus.request('match.request', ['not', 'an', 'object'])).rejects.toMatchObject({
          code: 'INVALID_ARGUMENT',
        });
        await expect(bus.request('match.request', { user: 'u' })).resolves.toEqual({});
        expect(called).toBe(1);
        expect(bus.stats().malformedByKind).toMatchObject({ match: 1 });
      });
    }
  });
}
