import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AethirError, UNIT, ath, formatAth, mulBps, parseAth, parseUnits } from '../../../src/core/index.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof AethirError ? e.code : `non-AethirError: ${String(e)}`;
  }
  return undefined;
}

describe('parseAth / formatAth', () => {
  it('parses whole and fractional amounts', () => {
    expect(UNIT).toBe(10n ** 18n);
    expect(parseAth('0')).toBe(0n);
    expect(parseAth('1')).toBe(UNIT);
    expect(parseAth('1.5')).toBe(UNIT + UNIT / 2n);
    expect(parseAth('0.000000000000000001')).toBe(1n);
    expect(parseAth(' 12 ')).toBe(12n * UNIT);
    expect(parseAth('42000000000')).toBe(42_000_000_000n * UNIT);
    expect(ath(3)).toBe(3n * UNIT);
    expect(ath('0.25')).toBe(UNIT / 4n);
    expect(ath(7n)).toBe(7n * UNIT);
  });

  it('formats with trailing zeros trimmed', () => {
    expect(formatAth(0n)).toBe('0');
    expect(formatAth(UNIT)).toBe('1');
    expect(formatAth(UNIT + UNIT / 2n)).toBe('1.5');
    expect(formatAth(1n)).toBe('0.000000000000000001');
    expect(formatAth(-UNIT / 4n)).toBe('-0.25');
    expect(formatAth(1234567n * 10n ** 12n, 3)).toBe('1.234');
  });

  it('round-trips any non-negative unit amount (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 30n }), (units) => {
        expect(parseAth(formatAth(units))).toBe(units);
      }),
      { numRuns: 500 },
    );
  });

  it('round-trips decimal text in canonical form (property)', () => {
    const text = fc
      .tuple(fc.bigInt({ min: 0n, max: 10n ** 12n }), fc.stringMatching(/^[0-9]{0,18}$/))
      .map(([w, f]) => (f.replace(/0+$/, '') ? `${w}.${f.replace(/0+$/, '')}` : `${w}`));
    fc.assert(
      fc.property(text, (t) => {
        expect(formatAth(parseAth(t))).toBe(t);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects negatives, exponents, more than 18 decimals and junk', () => {
    for (const bad of [
      '-1',
      '-0.5',
      '1e3',
      '1E3',
      '1e-3',
      '0.0000000000000000001',
      '1.1234567890123456789',
      '',
      ' ',
      'abc',
      '1.',
      '.5',
      '1,5',
      '+1',
      '0x10',
      'Infinity',
      'NaN',
      '1 000',
    ])
      expect(
        code(() => parseAth(bad)),
        bad,
      ).toBe('INVALID_ARGUMENT');
    expect(code(() => ath(1e21))).toBe('INVALID_ARGUMENT');
    expect(code(() => ath(-2))).toBe('INVALID_ARGUMENT');
  });
});

describe('parseUnits', () => {
  it('accepts non-negative integer strings and rejects the rest', () => {
    expect(parseUnits('0')).toBe(0n);
    expect(parseUnits('123456789012345678901234567890')).toBe(123456789012345678901234567890n);
    for (const bad of ['', '-1', '1.5', '1e5', 'x', '1'.repeat(41)])
      expect(
        code(() => parseUnits(bad)),
        bad,
      ).toBe('INVALID_ARGUMENT');
  });
});

describe('mulBps', () => {
  it('floors amount * bps / 10000', () => {
    expect(mulBps(10_000n, 8000)).toBe(8000n);
    expect(mulBps(1n, 8000)).toBe(0n);
    expect(mulBps(9n, 8000)).toBe(7n);
    expect(mulBps(UNIT, 10_000)).toBe(UNIT);
    expect(mulBps(UNIT, 0)).toBe(0n);
    expect(mulBps(12345n, 2500)).toBe(3086n);
  });

  it('never exceeds the amount and is monotone for bps <= 10000 (property)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 30n }),
        fc.bigInt({ min: 0n, max: 10n ** 6n }),
        fc.integer({ min: 0, max: 10_000 }),
        (a, d, bps) => {
          const x = mulBps(a, bps);
          expect(x).toBeGreaterThanOrEqual(0n);
          expect(x).toBeLessThanOrEqual(a);
          expect(mulBps(a + d, bps)).toBeGreaterThanOrEqual(x);
          // exact floor: x * 10000 <= a * bps < (x + 1) * 10000
          expect(x * 10_000n).toBeLessThanOrEqual(a * BigInt(bps));
          expect((x + 1n) * 10_000n).toBeGreaterThan(a * BigInt(bps));
        },
      ),
      { numRuns: 300 },
    );
  });
});
