import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  EMPTY_ROOT,
  leafHash,
  merkleProof,
  merkleRoot,
  nodeHash,
  verifyMerkleProof,
  type MerkleProofStep,
} from '../../../src/core/index.js';

const leavesOf = (n: number, tag = 'leaf'): Buffer[] =>
  Array.from({ length: n }, (_, i) => leafHash(`${tag}-${i}`));

describe('merkle', () => {
  it('empty tree has the fixed empty root; one leaf is its own root', () => {
    expect(merkleRoot([])).toEqual(EMPTY_ROOT);
    const l = leafHash('x');
    expect(merkleRoot([l])).toEqual(l);
  });

  it('separates leaves from inner nodes (domain separation)', () => {
    const a = Buffer.alloc(32, 1);
    const b = Buffer.alloc(32, 2);
    expect(leafHash(Buffer.concat([a, b]))).not.toEqual(nodeHash(a, b));
  });

  it('combines pairs and promotes an odd node unchanged', () => {
    const [a, b, c] = leavesOf(3) as [Buffer, Buffer, Buffer];
    expect(merkleRoot([a, b])).toEqual(nodeHash(a, b));
    expect(merkleRoot([a, b, c])).toEqual(nodeHash(nodeHash(a, b), c));
    expect(merkleRoot([a, b])).not.toEqual(merkleRoot([b, a]));
  });

  it('root changes when any single leaf changes, for every size 1..17', () => {
    for (let n = 1; n <= 17; n++) {
      const leaves = leavesOf(n);
      const root = merkleRoot(leaves);
      for (let i = 0; i < n; i++) {
        const changed = leaves.slice();
        changed[i] = leafHash(`changed-${i}`);
        expect(merkleRoot(changed), `n=${n} i=${i}`).not.toEqual(root);
      }
      // adding or removing a leaf changes it too
      expect(merkleRoot([...leaves, leafHash('extra')])).not.toEqual(root);
      if (n > 1) expect(merkleRoot(leaves.slice(0, -1))).not.toEqual(root);
    }
  });

  it('does not mutate the input', () => {
    const leaves = leavesOf(5);
    const copy = leaves.map((l) => Buffer.from(l));
    merkleRoot(leaves);
    merkleProof(leaves, 3);
    expect(leaves).toEqual(copy);
  });

  it('every leaf proof verifies, for even and odd sizes 1..33', () => {
    for (let n = 1; n <= 33; n++) {
      const leaves = leavesOf(n);
      const root = merkleRoot(leaves);
      for (let i = 0; i < n; i++) {
        const proof = merkleProof(leaves, i);
        expect(proof.length).toBeLessThanOrEqual(Math.ceil(Math.log2(n)));
        expect(verifyMerkleProof(leaves[i]!, proof, root), `n=${n} i=${i}`).toBe(true);
      }
    }
  });

  it('wrong proofs fail: wrong leaf, wrong root, tampered step, flipped side, dropped or extra step', () => {
    for (const n of [2, 3, 5, 8, 13]) {
      const leaves = leavesOf(n);
      const root = merkleRoot(leaves);
      for (let i = 0; i < n; i++) {
        const proof = merkleProof(leaves, i);
        const leaf = leaves[i]!;
        expect(verifyMerkleProof(leafHash('intruder'), proof, root)).toBe(false);
        expect(verifyMerkleProof(leaf, proof, merkleRoot(leavesOf(n, 'other')))).toBe(false);
        if (n > 1) expect(verifyMerkleProof(leaves[(i + 1) % n]!, proof, root)).toBe(false);
        for (let s = 0; s < proof.length; s++) {
          const badHash: MerkleProofStep[] = proof.map((p, j) =>
            j === s ? { ...p, hash: (p.hash[0] === '0' ? '1' : '0') + p.hash.slice(1) } : p,
          );
          expect(verifyMerkleProof(leaf, badHash, root)).toBe(false);
          const badSide: MerkleProofStep[] = proof.map((p, j) =>
            j === s ? { ...p, side: p.side === 'left' ? 'right' : 'left' } : p,
          );
          expect(verifyMerkleProof(leaf, badSide, root)).toBe(false);
          expect(verifyMerkleProof(leaf, proof.slice(0, s).concat(proof.slice(s + 1)), root)).toBe(false);
        }
        expect(verifyMerkleProof(leaf, [...proof, { hash: leaf.toString('hex'), side: 'right' }], root)).toBe(
          false,
        );
      }
    }
  });

  it('an inner node cannot be passed off as leaf data (second preimage)', () => {
    const leaves = leavesOf(4);
    const root = merkleRoot(leaves);
    // an attacker who claims the data of a "leaf" is the concatenation of two children gets a
    // different hash than the inner node, so the upper half of a proof does not verify it
    const forged = leafHash(Buffer.concat([leaves[0]!, leaves[1]!]));
    const upper = merkleProof(leaves, 0).slice(1);
    expect(verifyMerkleProof(forged, upper, root)).toBe(false);
    expect(verifyMerkleProof(nodeHash(leaves[0]!, leaves[1]!), upper, root)).toBe(true);
  });

  it('proofs verify for random leaf sets (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 16 }), { minLength: 1, maxLength: 40 }),
        fc.nat(),
        (data, k) => {
          const leaves = data.map((d) => leafHash(d));
          const i = k % leaves.length;
          const root = merkleRoot(leaves);
          expect(verifyMerkleProof(leaves[i]!, merkleProof(leaves, i), root)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});
