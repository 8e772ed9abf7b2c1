/**
 * Proof of storage for persistent volumes (docs/verification.md, "Volumes: proof of storage").
 *
 * When a host provisions a volume on a network with `params.volumeSealIterations`, it appends
 * CANARY_BLOCKS sealed canary blocks to the volume's image, after the user's filesystem (the
 * loop device stops at the filesystem's size: the user's writes can never reach them, so only the
 * host can lose them). Block i is derived from (host, volume, i) by a *sealing* function that
 * takes `iterations` sequential HMAC-SHA256 steps (PBKDF2): cheap to read back from disk, slow to
 * recompute. A checker asks for a hash over a random subset of the blocks with a fresh nonce and
 * a deadline far shorter than one seal: a host that kept the image answers from disk in
 * milliseconds, one that deleted it must recompute sealed blocks and misses the deadline (the
 * sealing-and-deadline idea of Filecoin's PoRep/WindowPoSt, at the scale of a few blocks).
 */
import { createHash, pbkdf2 } from 'node:crypto';

/** Canary blocks per volume image. */
export const CANARY_BLOCKS = 8;
/** Bytes per canary block. */
export const CANARY_BLOCK_BYTES = 4096;
/** Blocks a challenge asks for (a random subset of CANARY_BLOCKS). */
export const CANARY_SAMPLE = 4;
/** The canary region appended to a volume image, bytes. */
export const CANARY_REGION_BYTES = CANARY_BLOCKS * CANARY_BLOCK_BYTES;

const SEED_TAG = 'aethir/volume-canary/1';
const SEAL_SALT = Buffer.from('aethir/volume-seal/1');
const PROOF_TAG = 'aethir/volume-proof/1';

function seedOf(container: string, volume: string, index: number): Buffer {
  return createHash('sha256').update(`${SEED_TAG}\u0000${container}\u0000${volume}\u0000${index}`).digest();
}

/**
 * Canary block `index` of `volume` on `container`: PBKDF2-HMAC-SHA256 of its seed with
 * `iterations` (sequential: no parallel hardware shortens one block), expanded to a block by
 * SHA-256 in counter mode. Runs on libuv's thread pool (the caller's event loop stays free).
 */
export async function sealCanary(
  container: string,
  volume: string,
  index: number,
  iterations: number,
): Promise<Buffer> {
  if (!Number.isInteger(index) || index < 0 || index >= CANARY_BLOCKS)
    throw new RangeError(`canary index ${index} is outside 0..${CANARY_BLOCKS - 1}`);
  const key = await new Promise<Buffer>((resolve, reject) =>
    pbkdf2(seedOf(container, volume, index), SEAL_SALT, iterations, 32, 'sha256', (e, k) =>
      e ? reject(e) : resolve(k),
    ),
  );
  const out = Buffer.alloc(CANARY_BLOCK_BYTES);
  for (let i = 0; i * 32 < CANARY_BLOCK_BYTES; i++) {
    const ctr = Buffer.alloc(4);
    ctr.writeUInt32BE(i);
    createHash('sha256')
      .update(key)
      .update(ctr)
      .digest()
      .copy(out, i * 32);
  }
  return out;
}

/** Every canary block of a volume, in order (sealed in parallel on the thread pool). */
export function sealCanaries(container: string, volume: string, iterations: number): Promise<Buffer[]> {
  return Promise.all(
    Array.from({ length: CANARY_BLOCKS }, (_, i) => sealCanary(container, volume, i, iterations)),
  );
}

/**
 * The answer to a challenge: SHA-256 over the host, the volume, the checker's nonce, and the
 * asked blocks in the order asked. Bound to the host and the volume (an answer for another host's
 * volume, or another volume, is another hash) and to the nonce (an old answer says nothing now).
 */
export function storageProof(
  container: string,
  volume: string,
  nonce: string,
  indices: readonly number[],
  blocks: readonly Buffer[],
): string {
  const h = createHash('sha256').update(`${PROOF_TAG}\u0000${container}\u0000${volume}\u0000${nonce}`);
  indices.forEach((i, k) => {
    const n = Buffer.alloc(4);
    n.writeUInt32BE(i);
    h.update(n).update(blocks[k]!);
  });
  return h.digest('hex');
}

/** Whether `indices` is a valid challenge: 1..CANARY_BLOCKS distinct block numbers. */
export function validCanaryIndices(indices: readonly number[]): boolean {
  return (
    indices.length >= 1 &&
    indices.length <= CANARY_BLOCKS &&
    new Set(indices).size === indices.length &&
    indices.every((i) => Number.isInteger(i) && i >= 0 && i < CANARY_BLOCKS)
  );
}
