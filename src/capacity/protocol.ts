import type { MerkleProofStep } from '../core/merkle.js';
import { CAPACITY_PROTOCOL_VERSION, validateChallenge, type Challenge } from './challenge.js';
import { validateMemoryParams } from './memory.js';
import { validateWorkParams } from './work.js';

/**
 * The capacity prover protocol: one JSON object per line on the prover's stdin and stdout, so a
 * host can bring its own prover in any language (docs/verification.md, "Protocol").
 *
 *   prover  → checker  {"type":"ready","version":1,"prover":"cpu"}            once, on start
 *   checker → prover   {"type":"challenge","version":1,"id":…,"seed":…,"n":…,"deadlineMs":…,
 *                       "memoryMiB":…,"issuedAt":…}                          the clock starts
 *   prover  → checker  {"type":"commitment","id":…,"root":…,"elapsedMs":…,"memoryMiB":…}
 *   checker → prover   {"type":"open","id":…,"indices":[…]}
 *   prover  → checker  {"type":"rows","rows":[{"index":…,"row":[…],"proof":[{"hash":…,"side":…}]}]}
 *   and, when the checker runs the throughput proof (work.ts), after the rows:
 *   checker → prover   {"type":"prepare","id":…,"seed":…,"n":…,"pool":P}    untimed: generate, allocate, warm up
 *   prover  → checker  {"type":"prepared","id":…,"elapsedMs":…}
 *   checker → prover   {"type":"work","id":…,"seed":…,"products":R}          the clock starts
 *   prover  → checker  {"type":"work-root","id":…,"root":…}
 *   checker → prover   {"type":"open","id":…,"indices":[…leaves of the work tree…]}
 *   prover  → checker  {"type":"rows","rows":[{"index":…,"row":[…64·8 digests…],"proof":[…]}]}
 *   and, when the checker runs the memory proof (memory.ts), after the rows:
 *   checker → prover   {"type":"fill","id":…,"seed":…,"tiles":T,"m":…,"depth":…}
 *   prover  → checker  {"type":"filled","id":…,"elapsedMs":…}
 *   checker → prover   {"type":"read","id":…,"seed":…,"groups":S,"perGroup":G}
 *   prover  → checker  {"type":"read-root","id":…,"root":…}
 *   checker → prover   {"type":"open","id":…,"indices":[…leaves of the sums tree…]}
 *   prover  → checker  {"type":"rows","rows":[{"index":…,"row":[…sums…],"proof":[…]}]}
 *   checker closes the prover's stdin; the prover exits.
 *
 * Either side may answer `{"type":"error","message":…,"code":…}` instead and stop. Anything on
 * stdout that is not one of these messages is a protocol violation: diagnostics go to stderr.
 */

export type ProverErrorCode = 'memory' | 'unsupported' | 'protocol' | 'internal';

export interface ChallengeMessage extends Challenge {
  type: 'challenge';
  version: number;
}

export interface OpenMessage {
  type: 'open';
  id: string;
  indices: number[];
}

/** fill the memory with the tiles of `seed` (memory.ts) */
export interface FillMessage {
  type: 'fill';
  id: string;
  seed: string;
  tiles: number;
  m: number;
  depth: number;
  /** the checker stops waiting for `filled` this long after sending (relays wait as long) */
  deadlineMs?: number;
}

/** answer the groups of `seed` with the root of their sums */
export interface ReadMessage {
  type: 'read';
  id: string;
  seed: string;
  groups: number;
  perGroup: number;
  /** the checker stops waiting for `read-root` this long after sending */
  deadlineMs?: number;
}

/** generate the pool of the throughput proof (untimed), allocate and warm up */
export interface PrepareMessage {
  type: 'prepare';
  id: string;
  seed: string;
  n: number;
  pool: number;
  /** the checker stops waiting for `prepared` this long after sending */
  deadlineMs?: number;
}

/** compute the products of `seed` and answer the root of their row digests (timed) */
export interface WorkMessage {
  type: 'work';
  id: string;
  seed: string;
  products: number;
  /** the checker stops waiting for `work-root` this long after sending */
  deadlineMs?: number;
}

export type CheckerMessage =
  ChallengeMessage | OpenMessage | FillMessage | ReadMessage | PrepareMessage | WorkMessage | ErrorMessage;

export interface ReadyMessage {
  type: 'ready';
  version: number;
  /** what proves: "cpu", "gpu" */
  prover: string;
  /** e.g. the GPU's name */
  device?: string;
  /** how it multiplies, e.g. "int8 tensor cores (torch._int_mm)" */
  method?: string;
}

export interface CommitmentMessage {
  type: 'commitment';
  id?: string;
  root: string;
  /** the prover's own measure, informative only: the checker times with its own clock */
  elapsedMs: number;
  /** memory the prover held at once while it proved */
  memoryMiB?: number;
}

export interface RowsMessage {
  type: 'rows';
  rows: Array<{ index: number; row: number[]; proof: MerkleProofStep[] }>;
}

export interface FilledMessage {
  type: 'filled';
  id?: string;
  /** informative only */
  elapsedMs: number;
}

export interface ReadRootMessage {
  type: 'read-root';
  id?: string;
  root: string;
}

export interface PreparedMessage {
  type: 'prepared';
  id?: string;
  /** informative only */
  elapsedMs: number;
}

export interface WorkRootMessage {
  type: 'work-root';
  id?: string;
  root: string;
}

export interface ErrorMessage {
  type: 'error';
  message: string;
  code?: ProverErrorCode;
}

export type ProverMessage =
  | ReadyMessage
  | CommitmentMessage
  | RowsMessage
  | FilledMessage
  | ReadRootMessage
  | PreparedMessage
  | WorkRootMessage
  | ErrorMessage;

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStr = (v: unknown, max = 10_000): v is string => typeof v === 'string' && v.length <= max;
const ERROR_CODES = new Set<string>(['memory', 'unsupported', 'protocol', 'internal']);

export type Parsed<T> = { ok: true; message: T } | { ok: false; error: string };

function json(line: string): Parsed<Record<string, unknown>> {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  if (!isObj(v)) return { ok: false, error: 'not a JSON object' };
  if (!isStr(v.type, 32)) return { ok: false, error: 'no "type"' };
  return { ok: true, message: v };
}

function parseError(v: Record<string, unknown>): Parsed<ErrorMessage> {
  if (!isStr(v.message)) return { ok: false, error: 'error without a message' };
  const m: ErrorMessage = { type: 'error', message: v.message };
  if (isStr(v.code) && ERROR_CODES.has(v.code)) m.code = v.code as ProverErrorCode;
  return { ok: true, message: m };
}

/** A line from a prover. Rows are only checked to be an array here: spotCheck checks them. */
export function parseProverMessage(line: string): Parsed<ProverMessage> {
  const j = json(line);
  if (!j.ok) return j;
  const v = j.message;
  switch (v.type) {
    case 'ready': {
      if (!isNum(v.version) || !isStr(v.prover, 200))
        return { ok: false, error: 'ready: version and prover' };
      const m: ReadyMessage = { type: 'ready', version: v.version, prover: v.prover };
      if (isStr(v.device, 500)) m.device = v.device;
      if (isStr(v.method, 500)) m.method = v.method;
      return { ok: true, message: m };
    }
    case 'commitment': {
      if (!isStr(v.root, 200) || !isNum(v.elapsedMs))
        return { ok: false, error: 'commitment: root and elapsedMs' };
      const m: CommitmentMessage = { type: 'commitment', root: v.root, elapsedMs: v.elapsedMs };
      if (isStr(v.id, 200)) m.id = v.id;
      if (isNum(v.memoryMiB)) m.memoryMiB = v.memoryMiB;
      return { ok: true, message: m };
    }
    case 'filled': {
      if (!isNum(v.elapsedMs)) return { ok: false, error: 'filled: elapsedMs' };
      const m: FilledMessage = { type: 'filled', elapsedMs: v.elapsedMs };
      if (isStr(v.id, 200)) m.id = v.id;
      return { ok: true, message: m };
    }
    case 'prepared': {
      if (!isNum(v.elapsedMs)) return { ok: false, error: 'prepared: elapsedMs' };
      const m: PreparedMessage = { type: 'prepared', elapsedMs: v.elapsedMs };
      if (isStr(v.id, 200)) m.id = v.id;
      return { ok: true, message: m };
    }
    case 'work-root': {
      if (!isStr(v.root, 200)) return { ok: false, error: 'work-root: root' };
      const m: WorkRootMessage = { type: 'work-root', root: v.root };
      if (isStr(v.id, 200)) m.id = v.id;
      return { ok: true, message: m };
    }
    case 'read-root': {
      if (!isStr(v.root, 200)) return { ok: false, error: 'read-root: root' };
      const m: ReadRootMessage = { type: 'read-root', root: v.root };
      if (isStr(v.id, 200)) m.id = v.id;
      return { ok: true, message: m };
    }
    case 'rows':
      if (!Array.isArray(v.rows)) return { ok: false, error: 'rows: an array' };
      return { ok: true, message: { type: 'rows', rows: v.rows as RowsMessage['rows'] } };
    case 'error':
      return parseError(v);
    default:
      return { ok: false, error: `unknown type ${JSON.stringify(v.type)}` };
  }
}

/** A line from the checker (the provers' side). */
export function parseCheckerMessage(line: string): Parsed<CheckerMessage> {
  const j = json(line);
  if (!j.ok) return j;
  const v = j.message;
  switch (v.type) {
    case 'challenge': {
      if (v.version !== CAPACITY_PROTOCOL_VERSION)
        return { ok: false, error: `challenge: protocol version ${String(v.version)} is not supported` };
      const ch: ChallengeMessage = {
        type: 'challenge',
        version: v.version,
        id: v.id as string,
        seed: v.seed as string,
        n: v.n as number,
        deadlineMs: v.deadlineMs as number,
        issuedAt: v.issuedAt as number,
      };
      if (v.memoryMiB !== undefined) ch.memoryMiB = v.memoryMiB as number;
      try {
        if (typeof ch.id !== 'string' || typeof ch.seed !== 'string' || !isNum(ch.issuedAt))
          throw new RangeError('id, seed and issuedAt');
        validateChallenge(ch);
      } catch (e) {
        return { ok: false, error: `challenge: ${(e as Error).message}` };
      }
      return { ok: true, message: ch };
    }
    case 'prepare':
    case 'work': {
      const step = seededStep(v);
      if ('error' in step) return { ok: false, error: `${v.type}: ${step.error}` };
      const deadline = step.deadline;
      try {
        if (v.type === 'prepare') {
          const p = { n: v.n as number, pool: v.pool as number };
          validateWorkParams({ ...p, products: 1 });
          return { ok: true, message: { type: 'prepare', id: step.id, seed: step.seed, ...p, ...deadline } };
        }
        const products = v.products as number;
        validateWorkParams({ n: 64, pool: 1, products });
        return { ok: true, message: { type: 'work', id: step.id, seed: step.seed, products, ...deadline } };
      } catch (e) {
        return { ok: false, error: `${v.type}: ${(e as Error).message}` };
      }
    }
    case 'fill':
    case 'read': {
      const step = seededStep(v);
      if ('error' in step) return { ok: false, error: `${v.type}: ${step.error}` };
      const deadline = step.deadline;
      try {
        if (v.type === 'fill') {
          const p = { tiles: v.tiles as number, m: v.m as number, depth: v.depth as number };
          validateMemoryParams(p);
          return { ok: true, message: { type: 'fill', id: step.id, seed: step.seed, ...p, ...deadline } };
        }
        const p = { groups: v.groups as number, perGroup: v.perGroup as number };
        validateMemoryParams({ tiles: 1, m: 32_768, depth: 64, ...p });
        return { ok: true, message: { type: 'read', id: step.id, seed: step.seed, ...p, ...deadline } };
      } catch (e) {
        return { ok: false, error: `${v.type}: ${(e as Error).message}` };
      }
    }
    case 'open':
      if (!isStr(v.id, 200) || !Array.isArray(v.indices) || !v.indices.every((i) => Number.isSafeInteger(i)))
        return { ok: false, error: 'open: id and integer indices' };
      return { ok: true, message: { type: 'open', id: v.id, indices: v.indices as number[] } };
    case 'error':
      return parseError(v);
    default:
      return { ok: false, error: `unknown type ${JSON.stringify(v.type)}` };
  }
}

export function encodeMessage(m: CheckerMessage | ProverMessage): string {
  return `${JSON.stringify(m)}\n`;
}

/** A seeded step's common fields: an id, a 64-hex seed, an optional deadline (ms, at most an hour). */
function seededStep(
  v: Record<string, unknown>,
): { id: string; seed: string; deadline: { deadlineMs?: number } } | { error: string } {
  if (!isStr(v.id, 200) || !isStr(v.seed, 64) || !/^[0-9a-f]{64}$/.test(v.seed))
    return { error: 'id and a 64-hex seed' };
  if (v.deadlineMs === undefined) return { id: v.id, seed: v.seed, deadline: {} };
  if (!(isNum(v.deadlineMs) && v.deadlineMs > 0 && v.deadlineMs <= 3_600_000))
    return { error: 'deadlineMs must be in (0, 3,600,000]' };
  return { id: v.id, seed: v.seed, deadline: { deadlineMs: v.deadlineMs } };
}
