import { parentPort, workerData } from 'node:worker_threads';
import { flatDigests } from './recompute.js';
import { groupSums, validateMemoryParams, type FillParams, type ReadParams } from './memory.js';
import { validateWorkParams, type WorkParams } from './work.js';

/**
 * The worker thread of a RecomputePool (recompute-pool.ts): answers one recomputation at a time
 * with the same functions the checker runs inline (flatDigests, groupSums), so its answers are
 * bit-identical. Started by the pool only (workerData.aethirRecompute): imported anywhere else,
 * this module only exports answerRecompute.
 */

export type RecomputeRequest =
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
  { id: number; ok: true; values: Int32Array | Float64Array } | { id: number; ok: false; error: string };

/** The answer to one request (a thrown error becomes `ok: false`). */
export function answerRecompute(req: RecomputeRequest): RecomputeReply {
  try {
    if (req.kind === 'work') {
      validateWorkParams(req.p);
      return { id: req.id, ok: true, values: flatDigests(req.prepareSeed, req.workSeed, req.p, req.rows) };
    }
    if (req.kind === 'memory') {
      validateMemoryParams(req.p);
      return { id: req.id, ok: true, values: groupSums(req.fillSeed, req.readSeed, req.p, req.groups) };
    }
    return { id: (req as { id: number }).id, ok: false, error: 'unknown request' };
  } catch (e) {
    return { id: req.id, ok: false, error: (e as Error).message };
  }
}

const port = parentPort;
if (port && (workerData as { aethirRecompute?: unknown } | null)?.aethirRecompute === true)
  port.on('message', (req: RecomputeRequest) => {
    const reply = answerRecompute(req);
    port.postMessage(reply, reply.ok ? [reply.values.buffer as ArrayBuffer] : []);
  });
