import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AethirError,
  canonicalize,
  decodeCanonical,
  sha256Hex,
  toJsonSafe,
} from '../../../src/core/index.js';

/** Arbitrary values the canonical encoding supports (no undefined, no non-finite numbers). */
const canonicalValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0)),
    fc.string(),
    fc.string().map((s) => `#${s}`),
    fc.string().map((s) => `\\${s}`),
    fc.bigInt(),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string(), tie('value'), { maxKeys: 4 }),
  ),
})).value;

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AethirError);
    expect((e as AethirError).code).toBe(code);
    return;
  }
  expect.unreachable(`expected an AethirError ${code}`);
}

describe('canonicalize', () => {
  it('sorts object keys, so insertion order does not matter', () => {
    const a = canonicalize({ b: 1, a: { d: [1, 2], c: 'x' } });
    const b = canonicalize({ a: { c: 'x', d: [1, 2] }, b: 1 });
    expect(a).toBe(b);
    expect(a).toBe('{"a":{"c":"x","d":[1,2]},"b":1}');
  });

  it('is independent of key order for any object (property)', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), canonicalValue, { maxKeys: 8 }), (obj) => {
        const reversed = Object.fromEntries(Object.entries(obj).reverse());
        expect(canonicalize(reversed)).toBe(canonicalize(obj));
      }),
      { numRuns: 200 },
    );
  });

  it('has no whitespace and omits undefined properties', () => {
    expect(canonicalize({ a: undefined, b: [true, false, null] })).toBe('{"b":[true,false,null]}');
  });

  it('keeps array order', () => {
    expect(canonicalize([3, 1, 2])).not.toBe(canonicalize([1, 2, 3]));
  });

  it('round-trips bigints, including huge and negative ones', () => {
    for (const v of [0n, 1n, -1n, 10n ** 40n, -(2n ** 200n)]) {
      const text = canonicalize({ v });
      expect(decodeCanonical<{ v: bigint }>(text).v).toBe(v);
    }
  });

  it('distinguishes a bigint from the string of its digits', () => {
    expect(canonicalize(5n)).not.toBe(canonicalize('5'));
    expect(decodeCanonical(canonicalize('5'))).toBe('5');
    expect(decodeCanonical(canonicalize(5n))).toBe(5n);
  });

  it("round-trips strings that start with '#' or '\\'", () => {
    for (const s of ['#', '#1', '#abc', '\\', '\\#1', '\\\\n', '##', 'a#b', 'x\\y', '']) {
      const text = canonicalize({ s, arr: [s] });
      expect(decodeCanonical(text)).toEqual({ s, arr: [s] });
    }
    // "#12" the string and 12n the bigint must not collide
    expect(canonicalize('#12')).not.toBe(canonicalize(12n));
  });

  it('round-trips any supported value (property)', () => {
    fc.assert(
      fc.property(canonicalValue, (v) => {
        const text = canonicalize(v);
        const back = decodeCanonical(text);
        expect(back).toEqual(v);
        // encoding is a fixed point: re-encoding the decoded value gives the same bytes
        expect(canonicalize(back)).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects non-finite numbers with INVALID_ARGUMENT', () => {
    for (const n of [NaN, Infinity, -Infinity]) {
      expectCode(() => canonicalize(n), 'INVALID_ARGUMENT');
      expectCode(() => canonicalize({ nested: [1, n] }), 'INVALID_ARGUMENT');
    }
  });

  it('rejects values it cannot encode', () => {
    expectCode(() => canonicalize(() => 1), 'INVALID_ARGUMENT');
    expectCode(() => canonicalize(Symbol('x')), 'INVALID_ARGUMENT');
    expectCode(() => canonicalize([undefined]), 'INVALID_ARGUMENT');
  });

  it('gives equal hashes for equal values', () => {
    expect(sha256Hex(canonicalize({ x: 1n, y: 'a' }))).toBe(sha256Hex(canonicalize({ y: 'a', x: 1n })));
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});

describe('toJsonSafe', () => {
  it('turns bigints into decimal strings and drops undefined', () => {
    expect(toJsonSafe({ a: 1n, b: [2n, 'x'], c: undefined, d: { e: null } })).toEqual({
      a: '1',
      b: ['2', 'x'],
      d: { e: null },
    });
  });
});
