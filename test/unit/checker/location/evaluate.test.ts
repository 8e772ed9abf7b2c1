import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fitsVector } from '../../../../src/checker/location/index.js';

describe('fitsVector (the oracle of "What no judge can tell apart")', () => {
  it('a common access delay is taken out; one path off by more than its tolerance does not fit', () => {
    expect(fitsVector([10, 80, 150], [5, 75, 145], [0, 0, 0])).toBe(true); // 5 ms more access delay
    expect(fitsVector([10, 80, 160], [5, 75, 145], [0, 0, 0])).toBe(false);
    // the spread of the differences (−5 … +5 around 10) must fit within the two paths' tolerances
    expect(fitsVector([10, 80, 160], [5, 75, 145], [5, 5, 5])).toBe(true);
    expect(fitsVector([10, 80, 160], [5, 75, 145], [4.9, 4.9, 4.9])).toBe(false);
    // a loose far path forgives its own difference, not the near one's
    expect(fitsVector([10, 80, 200], [5, 75, 145], [1, 1, 60])).toBe(true);
    expect(fitsVector([30, 80, 150], [5, 75, 145], [1, 1, 60])).toBe(false);
  });

  it('is symmetric for equal tolerances, and holds for any added common delay', () => {
    // whole ms: exact in floating point, so equality at a tolerance of 0 is exact too
    const vec = fc.array(fc.integer({ min: 0, max: 500 }), { minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(vec, fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 300 }), (a, tol, delay) => {
        const b = a.map((x, i) => x + ((i * 7) % 11));
        const t = a.map(() => tol);
        expect(fitsVector(a, b, t)).toBe(fitsVector(b, a, t));
        expect(
          fitsVector(
            a.map((x) => x + delay),
            a,
            t,
          ),
        ).toBe(true);
      }),
    );
  });

  it('refutes vectors of different lengths or none', () => {
    expect(() => fitsVector([1, 2], [1], [0, 0])).toThrow(RangeError);
    expect(() => fitsVector([1], [1], [])).toThrow(RangeError);
    expect(() => fitsVector([], [], [])).toThrow(RangeError);
  });
});
