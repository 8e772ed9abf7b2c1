import { sha256 } from './encoding.js';

/**
 * Binary Merkle tree over ordered leaves, with domain separation between leaves (0x00) and
 * inner nodes (0x01) so a leaf can never be passed off as a node (second-preimage attack).
 * An odd node at the end of a level is promoted unchanged.
 */
export const EMPTY_ROOT = sha256('aethir:empty');

const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

export function leafHash(data: string | Uint8Array): Buffer {
  return sha256(Buffer.concat([LEAF, typeof data === 'string' ? Buffer.from(data) : data]));
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return sha256(Buffer.concat([NODE, left, right]));
}

export function merkleRoot(leaves: readonly Uint8Array[]): Buffer {
  if (leaves.length === 0) return EMPTY_ROOT;
  let level: Uint8Array[] = leaves.slice();
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2)
      next.push(i + 1 < level.length ? nodeHash(level[i]!, level[i + 1]!) : level[i]!);
    level = next;
  }
  return Buffer.from(level[0]!);
}

export interface MerkleProofStep {
  hash: string;
  side: 'left' | 'right';
}

export function merkleProof(leaves: readonly Uint8Array[], index: number): MerkleProofStep[] {
  const proof: MerkleProofStep[] = [];
  let level: Uint8Array[] = leaves.slice();
  let i = index;
  while (level.length > 1) {
    const sibling = i % 2 === 0 ? i + 1 : i - 1;
    if (sibling < level.length)
      proof.push({
        hash: Buffer.from(level[sibling]!).toString('hex'),
        side: i % 2 === 0 ? 'right' : 'left',
      });
    const next: Uint8Array[] = [];
    for (let j = 0; j < level.length; j += 2)
      next.push(j + 1 < level.length ? nodeHash(level[j]!, level[j + 1]!) : level[j]!);
    level = next;
    i = Math.floor(i / 2);
  }
  return proof;
}

export function verifyMerkleProof(
  leaf: Uint8Array,
  proof: readonly MerkleProofStep[],
  root: Uint8Array,
): boolean {
  let h: Uint8Array = leaf;
  for (const step of proof) {
    const sib = Buffer.from(step.hash, 'hex');
    h = step.side === 'right' ? nodeHash(h, sib) : nodeHash(sib, h);
  }
  return Buffer.compare(Buffer.from(h), Buffer.from(root)) === 0;
}
