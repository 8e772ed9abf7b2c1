import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { verifyMerkleProof } from '../../../src/core/index.js';
import { LedgerState, stateRootOf } from '../../../src/ledger/index.js';

const op = fc.oneof(
  fc.record({
    kind: fc.constant('set' as const),
    key: fc.string({ minLength: 1, maxLength: 6 }),
    value: fc.oneof(fc.bigInt(), fc.string(), fc.integer()),
  }),
  fc.record({ kind: fc.constant('delete' as const), key: fc.string({ minLength: 1, maxLength: 6 }) }),
);

describe('LedgerState root', () => {
  it('the incremental root always equals the root computed from scratch, and every key has a valid proof', () => {
    fc.assert(
      fc.property(fc.array(fc.array(op, { minLength: 1, maxLength: 5 }), { maxLength: 30 }), (blocks) => {
        const s = new LedgerState();
        for (const block of blocks) {
          s.atomically(() => {
            for (const o of block) {
              if (o.kind === 'set') s.set(o.key, o.value);
              else s.delete(o.key);
            }
          });
          const root = s.root();
          expect(root).toBe(stateRootOf(s.entries()));
          for (const [k] of s.entries()) {
            const p = s.prove(k)!;
            expect(verifyMerkleProof(Buffer.from(p.leaf, 'hex'), p.proof, Buffer.from(root, 'hex'))).toBe(
              true,
            );
          }
        }
        expect(LedgerState.fromEntries(s.entries()).root()).toBe(s.root());
      }),
      { numRuns: 100 },
    );
  });

  it('a proof does not verify for another value or against another root', () => {
    const s = new LedgerState();
    s.atomically(() => {
      for (let i = 0; i < 50; i++) s.set(`acct/${i}`, BigInt(i));
    });
    const root = Buffer.from(s.root(), 'hex');
    const p = s.prove('acct/7')!;
    const other = s.prove('acct/8')!;
    expect(verifyMerkleProof(Buffer.from(p.leaf, 'hex'), p.proof, root)).toBe(true);
    expect(verifyMerkleProof(Buffer.from(other.leaf, 'hex'), p.proof, root)).toBe(false);
    s.atomically(() => s.set('acct/7', 8n));
    expect(verifyMerkleProof(Buffer.from(p.leaf, 'hex'), p.proof, Buffer.from(s.root(), 'hex'))).toBe(false);
  });

  it('scan sees the writes and deletes of the running transaction, in key order', () => {
    const s = new LedgerState();
    s.atomically(() => {
      for (const k of ['v/a', 'v/c', 'v/e', 'w/x']) s.set(k, k);
    });
    const seen = s.atomically(() => {
      s.set('v/c', 'C');
      s.delete('v/e');
      s.set('v/b', 'B');
      s.set('v/f', 'F');
      s.set('w/y', 'Y');
      return [...s.scan<string>('v/')];
    });
    expect(seen).toEqual([
      ['v/a', 'v/a'],
      ['v/b', 'B'],
      ['v/c', 'C'],
      ['v/f', 'F'],
    ]);
    expect([...s.scan<string>('v/')]).toEqual(seen);
    // a rolled-back transaction leaves nothing behind
    expect(() =>
      s.atomically(() => {
        s.set('v/d', 'D');
        expect([...s.scan('v/')].map(([k]) => k)).toContain('v/d');
        throw new Error('abort');
      }),
    ).toThrow('abort');
    expect([...s.scan('v/')].map(([k]) => k)).toEqual(['v/a', 'v/b', 'v/c', 'v/f']);
  });

  it('scan agrees with get inside random transactions', () => {
    fc.assert(
      fc.property(fc.array(fc.array(op, { minLength: 1, maxLength: 5 }), { maxLength: 10 }), (blocks) => {
        const s = new LedgerState();
        for (const block of blocks)
          s.atomically(() => {
            for (const o of block) {
              if (o.kind === 'set') s.set(o.key, o.value);
              else s.delete(o.key);
              const scanned = [...s.scan('')];
              const keys = scanned.map(([k]) => k);
              expect(keys).toEqual([...keys].sort());
              for (const [k, v] of scanned) expect(s.get(k)).toBe(v);
              if (o.kind === 'set') expect(keys).toContain(o.key);
              else expect(keys).not.toContain(o.key);
            }
          });
      }),
      { numRuns: 100 },
    );
  });

  it('an empty state and a state emptied again have the same root', () => {
    const s = new LedgerState();
    const empty = s.root();
    s.atomically(() => s.set('a', 1));
    expect(s.root()).not.toBe(empty);
    s.atomically(() => s.delete('a'));
    expect(s.root()).toBe(empty);
    expect(stateRootOf([])).toBe(empty);
  });
});
