import { parentPort, workerData } from 'node:worker_threads';
import { freivaldsProducts, productRows } from './challenge.js';
import { flatDigests } from './recompute.js';
import { groupSums, validateMemoryParams, type FillParams, type ReadParams } from './memory.js';
import { validateWorkParams, type WorkParams } from './work.js';

/**
 * The worker thread of a RecomputePool (recompute-pool.ts): answers one recomputation at a time
 * with the same functions the checker runs inline (freivaldsProducts, productRows, flatDigests,
 * groupSums), so its answers are bit-identical. Started by the pool only
 * (workerData.aethirRecompute): imported anywhere else, this module only exports its functions.
 */

export type RecomputeRequest =
  | { id: number; kind: 'freivalds'; seed: string; n: number; vectors: Float64Array[] }
  | { id: number; kind: 'rows'; seed: string; n: number; indices: number[] }
  | { id: number; kind: 'work'; prepareSeed: string; workSeed: string; p: WorkParams; rows: number[] }
  | {
      id: number;
      kind: 'memory';
      fillSeed: string;
      readSeed: string;
      p: FillParams & ReadParams;
      groups: number[];
    };

export type RecomputeReply =
  | { id: number; ok: true; values: Int32Array | Float64Array | Float64Array[] }
  | { id: number; ok: false; error: string };

/** The answer to one request (a thrown error becomes `ok: false`). */
export function answerRecompute(req: RecomputeRequest): RecomputeReply {
  try {
    switch (req.kind) {
      case 'freivalds':
      case 'rows':
        if (!Number.isSafeInteger(req.n) || req.n < 1 || req.n > 65_536)
          throw new RangeError('n must be an integer in [1, 65536]');
        return {
          id: req.id,
          ok: true,
          values:
            req.kind === 'freivalds'
              ? freivaldsProducts(req.seed, req.n, req.vectors)
              : productRows(req.seed, req.n, req.indices),
        };
      case 'work':
        validateWorkParams(req.p);
        return { id: req.id, ok: true, values: flatDigests(req.prepareSeed, req.workSeed, req.p, req.rows) };
      case 'memory':
        validateMemoryParams(req.p);
        return { id: req.id, ok: true, values: groupSums(req.fillSeed, req.readSeed, req.p, req.groups) };
      default:
        return { id: (req as { id: number }).id, ok: false, error: 'unknown request' };
    }
  } catch (e) {
    return { id: req.id, ok: false, error: (e as Error).message };
  }
}

/** The buffers of a reply's arrays (moved to the pool's thread, not copied). */
export function transferOf(reply: RecomputeReply): ArrayBuffer[] {
  if (!reply.ok) return [];
  const arrays = Array.isArray(reply.values) ? reply.values : [reply.values];
  return arrays.map((a) => a.buffer as ArrayBuffer);
}

const port = parentPort;
if (port && (workerData as { aethirRecompute?: unknown } | null)?.aethirRecompute === true)
  port.on('message', (req: RecomputeRequest) => {
    const reply = answerRecompute(req);
    port.postMessage(reply, transferOf(reply));
  });
