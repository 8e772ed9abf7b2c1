import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AethirError,
  MAX_CANONICAL_DEPTH,
  canonicalize,
  decodeCanonical,
  jsonDepth,
} from '../../../src/core/index.js';

/** The recursive encoder this one replaced, kept as the reference its bytes must equal. */
function reference(v: unknown): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(v)) throw new Error('non-finite');
      return JSON.stringify(v);
    case 'string':
      return JSON.stringify(v.startsWith('#') || v.startsWith('\\') ? `\\${v}` : v);
    case 'bigint':
      return `"#${v.toString()}"`;
    case 'object': {
      if (Array.isArray(v)) return `[${v.map(reference).join(',')}]`;
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o)
        .filter((k) => o[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${reference(o[k])}`).join(',')}}`;
    }
    default:
      throw new Error('type');
  }
}

const nest = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = i % 2 ? { a: v } : [v];
  return v;
};

describe('canonicalize', () => {
  it('writes the same bytes as the recursive encoder for any JSON-like value with bigints', () => {
    const value = fc.letrec((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        fc.constant(null),
        fc.boolean(),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.string(),
        fc.constantFrom('#12', '\\x', '#', '\\'),
        fc.bigInt(),
        fc.array(tie('v'), { maxLength: 5 }),
        fc.dictionary(fc.string(), fc.option(tie('v'), { nil: undefined }), { maxKeys: 5 }),
      ),
    })).v;
    fc.assert(
      fc.property(value, (v) => {
        const text = canonicalize(v);
        expect(text).toBe(reference(v));
        expect(canonicalize(decodeCanonical(text))).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  it('encodes exactly MAX_CANONICAL_DEPTH levels and refuses one more with INVALID_ARGUMENT, not a stack overflow', () => {
    const deepest = canonicalize(nest(MAX_CANONICAL_DEPTH));
    expect(jsonDepth(JSON.parse(deepest))).toBe(MAX_CANONICAL_DEPTH);
    for (const depth of [MAX_CANONICAL_DEPTH + 1, 10_000, 200_000]) {
      let err: unknown;
      try {
        canonicalize(nest(depth));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AethirError);
      expect((err as AethirError).code).toBe('INVALID_ARGUMENT');
      expect((err as Error).message).toContain(`deeper than ${MAX_CANONICAL_DEPTH} levels`);
    }
  });

  it('refuses a value that contains itself with the same clean error', () => {
    const a: unknown[] = [];
    a.push({ a });
    expect(() => canonicalize(a)).toThrow(/deeper than \d+ levels \(or contains itself\)/);
  });
});

describe('jsonDepth', () => {
  it('counts nesting without recursion and stops past the limit', () => {
    expect(jsonDepth(1)).toBe(0);
    expect(jsonDepth([])).toBe(1);
    expect(jsonDepth({ a: [1, { b: [] }] })).toBe(4);
    expect(jsonDepth(nest(100_000))).toBe(100_000);
    expect(jsonDepth(nest(100_000), 64)).toBe(65);
  });
});
