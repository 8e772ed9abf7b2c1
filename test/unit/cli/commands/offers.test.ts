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
    // the whole query as one word, as a shell needs it quoted (< and > redirect)
    expect(queryOf(['gpu_ram>=24 num_gpus>=2 region=eu price<2'])).toBe(
      'gpu_ram>=24 num_gpus>=2 region=eu price<2',
    );
    expect(queryOf(['num_gpus>=1 near="Paris, FR"', 'price<2'])).toBe('num_gpus>=1 near="Paris, FR" price<2');
    expect(queryOf([])).toBe('');
  });

  it('each word that is one clause parses to the clause it was', () => {
    const clause = fc.record({
      field: fc.constantFrom('near' as const, 'app' as const, 'region' as const),
      op: fc.constant('=' as const),
      // values as people write them (places, app names): no space at either end, where a shell
      // word cannot tell where a value ends
      value: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9 ,.'"@-]{0,18}[A-Za-z0-9.]$/),
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
