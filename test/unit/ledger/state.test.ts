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
