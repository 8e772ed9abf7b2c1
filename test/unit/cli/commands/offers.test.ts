import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { queryOf } from '../../../../src/cli/commands/offers.js';
import { formatClauses, parseClauses } from '../../../../src/indexer/index.js';

describe('offers: the query from the words the shell split', () => {
  it('quotes again a value the shell unquoted, and leaves the rest as typed', () => {
    expect(queryOf(['gpu_ram>=24', 'near=Paris, FR', 'price<2'])).toBe(
      'gpu_ram>=24 near="Paris, FR" price<2',
    );
    expect(queryOf(['near="Paris, FR"'])).toBe('near="Paris, FR"');
    expect(queryOf(['app=a"b'])).toBe('app="a\\"b"');
    expect(queryOf(['app=a=b'])).toBe('app="a=b"');
    expect(queryOf(['price<<2'])).toBe('price<<2');
    expect(queryOf([])).toBe('');
  });

  it('each word that is one clause parses to the clause it was', () => {
    const clause = fc.record({
      field: fc.constantFrom('near' as const, 'app' as const, 'region' as const),
      op: fc.constant('=' as const),
      // (a value starting with an operator is a doubled operator: the parser's to refuse)
      value: fc.string({ minLength: 1, maxLength: 20 }).filter((v) => !/^["<>=!]/.test(v)),
    });
    fc.assert(
      fc.property(fc.uniqueArray(clause, { selector: (c) => c.field, maxLength: 3 }), (cs) => {
        // what the shell hands over for `field="value"`: the value unquoted, one word per clause
        const words = cs.map((c) => `${c.field}${c.op}${c.value}`);
        const back = parseClauses(queryOf(words)).map(({ field, op, value }) => ({ field, op, value }));
        expect(back).toEqual(cs);
        expect(formatClauses(back)).toBe(formatClauses(cs));
      }),
      { numRuns: 500 },
    );
  });
});
