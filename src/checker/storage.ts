/**
 * Proof of storage for volumes, the checker's side (docs/verification.md, "Volumes: proof of
 * storage"). One look: a random subset of the volume's sealed canary blocks, computed (or taken
 * from the cache) *before* the challenge is sent, a fresh nonce, and a deadline far shorter than
 * sealing one block. The host's answer must be the hash over exactly those blocks, bound to the
 * host, the volume and the nonce, and must arrive within the deadline.
 */
import type { Clock, Rng } from '../core/clock.js';
import { isAethirError } from '../core/errors.js';
import { CANARY_BLOCKS, CANARY_SAMPLE, sealCanary, storageProof } from '../core/volume-proof.js';
import { signCapacityStart, storageChallengeId } from '../core/check-auth.js';
import type { Bus } from '../bus/bus.js';
import { subjects } from '../bus/subjects.js';

/** How long a host has to answer a storage challenge by default (one seal must take far longer). */
export const STORAGE_DEADLINE_MS = 250;

/**
 * Sealed blocks already computed (a deterministic function of host, volume, index and
 * iterations: every checker of a process may share them). Bounded: 16 MiB of blocks.
 */
const CACHE_MAX = 4096;
const cache = new Map<string, Promise<Buffer>>();

function expected(container: string, volume: string, i: number, iterations: number): Promise<Buffer> {
  const key = `${container}/${volume}/${i}/${iterations}`;
  let p = cache.get(key);
  if (!p) {
    p = sealCanary(container, volume, i, iterations);
    cache.set(key, p);
    p.catch(() => cache.delete(key));
    if (cache.size > CACHE_MAX) cache.delete(cache.keys().next().value!);
  }
  return p;
}

/** A random subset of CANARY_SAMPLE distinct block numbers, in random order. */
export function pickCanaries(rng: Rng): number[] {
  const all = Array.from({ length: CANARY_BLOCKS }, (_, i) => i);
  for (let i = all.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, CANARY_SAMPLE);
}

export type StorageLook =
  | { kind: 'proved'; ms: number }
  /** the host answered, and the answer is not the proof (or it says it lacks the volume) */
  | { kind: 'wrong'; reason: string }
  /** no answer within the deadline */
  | { kind: 'silent'; reason: string };

export interface StorageChallenge {
  bus: Bus;
  clock: Clock;
  rng: Rng;
  checker: string;
  container: string;
  volume: string;
  iterations: number;
  deadlineMs?: number;
  /** the checker's key: signs the challenge (hosts take only a ledger checker's, src/core/check-auth.ts) */
  key?: { publicKey: string; secretKey: string };
}

/** One look at one volume. */
export async function challengeStorage(o: StorageChallenge): Promise<StorageLook> {
  const deadline = o.deadlineMs ?? STORAGE_DEADLINE_MS;
  const blocks = pickCanaries(o.rng);
  const want = await Promise.all(blocks.map((i) => expected(o.container, o.volume, i, o.iterations)));
  let nonce = '';
  for (let i = 0; i < 4; i++) nonce += o.rng.nextU32().toString(16).padStart(8, '0');
  const proof = storageProof(o.container, o.volume, nonce, blocks, want);
  const t0 = o.clock.now();
  let r: { container?: unknown; volume?: unknown; nonce?: unknown; proof?: unknown; error?: unknown };
  try {
    r = (await o.bus.request(
      subjects.check(o.container),
      {
        op: 'storage',
        checker: o.checker,
        volume: o.volume,
        nonce,
        blocks,
        ...(o.key
          ? {
              auth: signCapacityStart(o.key, {
                container: o.container,
                checker: o.checker,
                session: storageChallengeId({ volume: o.volume, nonce, blocks }),
                at: o.clock.now(),
              }),
            }
          : {}),
      },
      { timeoutMs: deadline },
    )) as typeof r;
  } catch (e) {
    if (!isAethirError(e)) throw e;
    return { kind: 'silent', reason: `no proof of storage within ${deadline} ms` };
  }
  const ms = o.clock.now() - t0;
  if (ms > deadline)
    return { kind: 'silent', reason: `the proof of storage came after ${ms} ms (deadline ${deadline} ms)` };
  if (typeof r?.error === 'string')
    return { kind: 'wrong', reason: `the host cannot prove it holds the volume: ${r.error.slice(0, 120)}` };
  if (r?.proof !== proof || r.nonce !== nonce || r.volume !== o.volume || r.container !== o.container)
    return { kind: 'wrong', reason: "the host's answer is not the proof over the volume's canary blocks" };
  return { kind: 'proved', ms };
}
