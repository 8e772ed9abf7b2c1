import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AethirError, ath } from '../../../src/core/index.js';
import {
  QUERY_FIELDS,
  QUERY_OPS,
  formatClauses,
  parseClauses,
  parseQuery,
  queryFieldsHelp,
  type QueryField,
  type QueryOp,
} from '../../../src/indexer/index.js';

function parseError(q: string): AethirError {
  try {
    parseQuery(q);
  } catch (e) {
    expect(e).toBeInstanceOf(AethirError);
    expect((e as AethirError).code).toBe('INVALID_ARGUMENT');
    return e as AethirError;
  }
  throw new Error(`"${q}" parsed`);
}
const columnOf = (q: string) => parseError(q).details!.column;

describe('the offers query language', () => {
  it("parses the issue's example into the indexer's request", () => {
    expect(parseQuery('gpu_ram>=24 num_gpus>=2 region=eu price<2')).toEqual({
      gpus: 2,
      minVramMiB: 24 * 1024,
      region: 'eu',
      maxPricePerHour: ath(2) - 1n,
    });
  });

  it('maps every field, strict bounds exactly, and aliases', () => {
    expect(
      parseQuery(
        'num_gpus>1 vram>8 gpu_model=4090,A100 gpu_class>=a100 compute_cap>=8.6 near="Paris, FR" latency<=40 dph<=0.5 reliability>=0.9 sandbox!=false app=llm-chat@1.0.0',
      ),
    ).toEqual({
      gpus: 2,
      minVramMiB: 8 * 1024 + 1,
      gpuModels: ['4090', 'A100'],
      minGpuClass: 'a100',
      minComputeCapability: 8.6,
      location: expect.objectContaining({ lat: expect.any(Number), lon: expect.any(Number) }),
      maxLatencyMs: 40,
      maxPricePerHour: ath('0.5'),
      minReputation: 0.9,
      isolation: 'sandbox',
      app: 'llm-chat@1.0.0',
    });
    expect(parseQuery('')).toEqual({ gpus: 0 });
    expect(parseQuery('  sandbox=false  ')).toEqual({ gpus: 0, isolation: 'any' });
  });

  it('points at the bad token: column (1-based) and a caret under it', () => {
    const e = parseError('price<<2');
    expect(e.details!.column).toBe(7);
    expect(e.message).toBe(
      'bad query at column 7: expected a value after "price<", found "<"\n  price<<2\n        ^',
    );
    expect(columnOf('gpu_ram>=24 colour=red')).toBe(13); // unknown field
    expect(parseError('gpu_ram>=24 colour=red').message).toMatch(/unknown field "colour"; fields: num_gpus/);
    expect(columnOf('price 2')).toBe(6); // no operator
    expect(columnOf('price<=two')).toBe(8); // bad value
    expect(columnOf('num_gpus<=2')).toBe(9); // an operator the field does not take
    expect(parseError('num_gpus<=2').message).toMatch(/num_gpus takes = >= >, not <=/);
    expect(columnOf('region=eu region=us')).toBe(11); // twice
    expect(columnOf('near="Paris')).toBe(6); // unclosed quote
    expect(columnOf('price<2"x"')).toBe(8); // no space between clauses
    expect(columnOf('price<0')).toBe(7);
    expect(columnOf('reputation>=1.5')).toBe(13);
    expect(columnOf('near="Atlantis, XX"')).toBe(6);
    // latency without a place parses: the indexer says it needs one (the query cannot know a region's)
    expect(parseQuery('latency<=20')).toEqual({ gpus: 0, maxLatencyMs: 20 });
  });

  it('never throws anything but a clear INVALID_ARGUMENT with a column inside the query', () => {
    const alphabet = fc.constantFrom(
      ...'abcdefgnpru_ mios<>=!"\\,.0123456789-@\t'.split(''),
      'price',
      'num_gpus',
      'gpu_ram',
      'region',
      'near',
      'sandbox',
      'true',
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.array(alphabet, { maxLength: 30 }).map((a) => a.join('')),
        ),
        (q) => {
          try {
            parseQuery(q);
          } catch (e) {
            expect(e).toBeInstanceOf(AethirError);
            expect((e as AethirError).code).toBe('INVALID_ARGUMENT');
            const col = (e as AethirError).details!.column as number;
            expect(Number.isInteger(col) && col >= 1 && col <= q.length + 1).toBe(true);
            expect((e as AethirError).message).toMatch(/^bad query at column \d+: /);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('round-trips: formatting parsed clauses and parsing again gives the same clauses', () => {
    const fields = Object.keys(QUERY_FIELDS) as QueryField[];
    const clause = fc
      .record({
        field: fc.constantFrom(...fields),
        op: fc.constantFrom(...QUERY_OPS),
        value: fc.string({ minLength: 1, maxLength: 12 }),
      })
      .filter((c) => QUERY_FIELDS[c.field].includes(c.op as QueryOp));
    fc.assert(
      fc.property(fc.uniqueArray(clause, { selector: (c) => c.field, maxLength: 6 }), (cs) => {
        const back = parseClauses(formatClauses(cs)).map(({ field, op, value }) => ({ field, op, value }));
        expect(back).toEqual(cs);
      }),
      { numRuns: 1000 },
    );
  });

  it('lists every field with its operators for --help', () => {
    const help = queryFieldsHelp();
    expect(help.map((h) => h.field.split(' ')[0])).toEqual(Object.keys(QUERY_FIELDS));
    for (const h of help) expect(() => parseQuery(h.example)).not.toThrow();
  });
});
