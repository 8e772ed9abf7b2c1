import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock, SeededRng } from '../../../src/core/index.js';

function draw(rng: SeededRng, n: number): number[] {
  return Array.from({ length: n }, () => rng.nextU32());
}

describe('SeededRng', () => {
  it('is deterministic per seed (number or string)', () => {
    expect(draw(new SeededRng(42), 50)).toEqual(draw(new SeededRng(42), 50));
    expect(draw(new SeededRng('devnet'), 50)).toEqual(draw(new SeededRng('devnet'), 50));
    expect(draw(new SeededRng(42), 50)).not.toEqual(draw(new SeededRng(43), 50));
    expect(draw(new SeededRng('a'), 50)).not.toEqual(draw(new SeededRng('b'), 50));
  });

  it('produces u32 values and floats in [0, 1)', () => {
    const r = new SeededRng(7);
    for (let i = 0; i < 2000; i++) {
      const u = r.nextU32();
      expect(Number.isInteger(u)).toBe(true);
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(2 ** 32);
      const f = r.next();
      expect(f).toBeGreaterThanOrEqual(0);
      expect(f).toBeLessThan(1);
    }
  });

  it('int(min, max) stays within bounds, inclusive (property)', () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.integer({ min: -1_000_000, max: 1_000_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        (seed, min, span) => {
          const r = new SeededRng(seed);
          for (let i = 0; i < 20; i++) {
            const v = r.int(min, min + span);
            expect(Number.isInteger(v)).toBe(true);
            expect(v).toBeGreaterThanOrEqual(min);
            expect(v).toBeLessThanOrEqual(min + span);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('int covers both ends of a small range', () => {
    const r = new SeededRng('cover');
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) seen.add(r.int(1, 6));
    expect([...seen].sort()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(r.int(5, 5)).toBe(5);
  });

  it('pick returns an element and rejects an empty list', () => {
    const r = new SeededRng(1);
    const items = ['a', 'b', 'c'] as const;
    for (let i = 0; i < 100; i++) expect(items).toContain(r.pick(items));
    expect(() => r.pick([])).toThrow(RangeError);
  });
});

describe('ManualClock', () => {
  it('advances and sets only when told', () => {
    const c = new ManualClock(1000);
    expect(c.now()).toBe(1000);
    c.advance(500);
    expect(c.now()).toBe(1500);
    c.set(10);
    expect(c.now()).toBe(10);
  });
});
