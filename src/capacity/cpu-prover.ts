import { realpathSync } from 'node:fs';
import { freemem } from 'node:os';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { systemClock, type Clock } from '../core/clock.js';
import { sha256 } from '../core/encoding.js';
import { CAPACITY_PROTOCOL_VERSION, openRows, prove, type Proof } from './challenge.js';
import {
  answerRead,
  fillMemory,
  openSums,
  tileBytes,
  type FillParams,
  type HeldMemory,
  type ReadAnswer,
} from './memory.js';
import {
  answerWork,
  openWork,
  preparePool,
  validateWorkParams,
  type PreparedPool,
  type WorkAnswer,
} from './work.js';
import {
  encodeMessage,
  parseCheckerMessage,
  type CheckerMessage,
  type ErrorMessage,
  type ProverMessage,
  type ReadyMessage,
} from './protocol.js';

/**
 * The built-in CPU prover: the capacity protocol (protocol.ts) over stdin/stdout, proving with
 * the JS kernel of challenge.ts on one core. Run it as
 *
 *   node --import tsx src/capacity/cpu-prover.ts
 *
 * (cpuProverCommand() in prover.ts builds that argv). Hosts without GPUs are checked with it, and
 * it is the reference a host's own prover must agree with bit for bit.
 */

const MiB = 1024 * 1024;
const BALLAST_CHUNK = 64 * MiB;

export interface CpuProverOptions {
  clock?: Clock;
  /** memory this host can still give, in MiB (default: os.freemem()) */
  freeMemoryMiB?: () => number;
  /**
   * A device the session must also hold a challenge's memoryMiB from (e.g. a SimulatedGpuMemory
   * shared by several sessions): reserved when a challenge asks for memory, held until close().
   * A refused reservation answers a 'memory' error. Absent: only this host's RAM is checked.
   */
  memory?: ProverMemory;
  /**
   * How many of the memory proof's tiles this prover holds (default: all; with `memory`, all or a
   * 'memory' error when the device cannot take them). Fewer: the rest are recomputed when a read
   * needs them — the prover that holds less than it claims, for tests.
   */
  tilesToHold?: (fill: FillParams) => number;
  /**
   * Which rows of the throughput proof's products this prover computes (default: all); the others
   * get zero digests — the prover that skips work to meet a deadline, for tests.
   */
  computeWorkRow?: (globalRow: number) => boolean;
}

/** Memory a prover draws on while it proves (a device several provers may share). */
export interface ProverMemory {
  /** takes `mib` MiB if that much is free; false (and nothing taken) otherwise */
  reserve(mib: number): boolean;
  release(mib: number): void;
  /** for reasons */
  freeMiB?(): number;
}

/** One prover session: ready, then one challenge, its commitment, one open and its rows. */
export class CpuProverSession {
  private proof: Proof | null = null;
  private readonly clock: Clock;
  private readonly freeMemoryMiB: () => number;
  private readonly memory: ProverMemory | undefined;
  private reservedMiB = 0;
  private held: HeldMemory | null = null;
  private read: ReadAnswer | null = null;
  private readonly tilesToHold: ((fill: FillParams) => number) | undefined;
  private readonly computeWorkRow: ((globalRow: number) => boolean) | undefined;
  private pool: PreparedPool | null = null;
  private work: WorkAnswer | null = null;
  /** tiles the last read had to recompute (0 for a prover that holds them all) */
  lastRecomputedTiles = 0;

  constructor(opts: CpuProverOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.freeMemoryMiB = opts.freeMemoryMiB ?? (() => Math.floor(freemem() / MiB));
    this.memory = opts.memory;
    this.tilesToHold = opts.tilesToHold;
    this.computeWorkRow = opts.computeWorkRow;
  }

  /** Ends the session: gives back what it reserved from `memory` (idempotent). */
  close(): void {
    if (this.reservedMiB > 0) this.memory?.release(this.reservedMiB);
    this.reservedMiB = 0;
    this.held = null;
    this.read = null;
    this.pool = null;
    this.work = null;
  }

  ready(): ReadyMessage {
    return { type: 'ready', version: CAPACITY_PROTOCOL_VERSION, prover: 'cpu', method: 'float64 JS kernel' };
  }

  handle(msg: CheckerMessage): ProverMessage {
    const fail = (message: string, code: ErrorMessage['code'] = 'protocol'): ErrorMessage => ({
      type: 'error',
      message,
      code,
    });
    switch (msg.type) {
      case 'challenge': {
        if (this.proof) return fail('one challenge per session');
        const started = this.clock.now();
        let ballast: Buffer[] = [];
        if (msg.memoryMiB !== undefined && this.memory) {
          if (!this.memory.reserve(msg.memoryMiB)) {
            const free = this.memory.freeMiB?.();
            return fail(
              `cpu prover: cannot hold ${msg.memoryMiB} MiB at once: ${free ?? 'not enough'} MiB free on its device`,
              'memory',
            );
          }
          this.reservedMiB = msg.memoryMiB;
        }
        if (msg.memoryMiB !== undefined) {
          const free = this.freeMemoryMiB();
          if (msg.memoryMiB > free)
            return fail(
              `cpu prover: cannot hold ${msg.memoryMiB} MiB at once: ${free} MiB free on this host`,
              'memory',
            );
          try {
            ballast = holdMemory(msg.memoryMiB, sha256(msg.seed));
          } catch (e) {
            return fail(
              `cpu prover: cannot hold ${msg.memoryMiB} MiB at once: ${(e as Error).message}`,
              'memory',
            );
          }
        }
        this.proof = prove(msg);
        const held = ballast.reduce((s, b) => s + b.length, 0) / MiB;
        ballast = [];
        const out: ProverMessage = {
          type: 'commitment',
          id: msg.id,
          root: this.proof.root,
          elapsedMs: this.clock.now() - started,
        };
        if (msg.memoryMiB !== undefined) out.memoryMiB = held;
        return out;
      }
      case 'prepare': {
        const p = this.proof;
        if (!p || msg.id !== p.challenge.id) return fail('prepare: after a challenge, with its id');
        if (this.pool || this.held) return fail('one prepare per session, before the fill');
        const started = this.clock.now();
        this.pool = preparePool(msg.seed, { n: msg.n, pool: msg.pool, products: 1 });
        return { type: 'prepared', id: msg.id, elapsedMs: this.clock.now() - started };
      }
      case 'work': {
        const p = this.proof;
        if (!this.pool || !p || msg.id !== p.challenge.id) return fail('work: after a prepare, with its id');
        if (this.work) return fail('one work per session');
        const params = { ...this.pool.params, products: msg.products };
        validateWorkParams(params);
        this.work = answerWork({ ...this.pool, params }, msg.id, msg.seed, this.computeWorkRow);
        return { type: 'work-root', id: msg.id, root: this.work.root };
      }
      case 'fill': {
        const p = this.proof;
        if (!p || msg.id !== p.challenge.id) return fail('fill: after a challenge, with its id');
        if (this.held) return fail('one fill per session');
        const started = this.clock.now();
        const mib = Math.ceil(tileBytes(msg) / MiB);
        const hold = Math.max(0, Math.min(msg.tiles, Math.floor(this.tilesToHold?.(msg) ?? msg.tiles)));
        if (this.memory && !this.tilesToHold) {
          if (!this.memory.reserve(mib))
            return fail(
              `cpu prover: cannot hold the ${mib} MiB of tiles: ${this.memory.freeMiB?.() ?? 'not enough'} MiB free on its device`,
              'memory',
            );
          this.reservedMiB += mib;
        }
        if (mib > this.freeMemoryMiB())
          return fail(
            `cpu prover: cannot hold the ${mib} MiB of tiles: ${this.freeMemoryMiB()} MiB free on this host`,
            'memory',
          );
        this.held = fillMemory(msg.seed, msg, (t) => t < hold);
        return { type: 'filled', id: msg.id, elapsedMs: this.clock.now() - started };
      }
      case 'read': {
        if (!this.held || !this.proof || msg.id !== this.proof.challenge.id)
          return fail('read: after a fill, with its id');
        if (this.read) return fail('one read per session');
        this.read = answerRead(this.held, msg.id, msg.seed, msg);
        this.lastRecomputedTiles = this.read.recomputedTiles;
        return { type: 'read-root', id: msg.id, root: this.read.root };
      }
      case 'open': {
        const p = this.proof;
        if (!p) return fail('open before a challenge');
        if (this.read) {
          if (msg.id !== p.challenge.id) return fail(`open for challenge ${msg.id}, not ${p.challenge.id}`);
          try {
            return { type: 'rows', rows: openSums(this.read, msg.indices) };
          } catch (e) {
            return fail(`open: ${(e as Error).message}`);
          }
        }
        if (this.work && !this.held) {
          if (msg.id !== p.challenge.id) return fail(`open for challenge ${msg.id}, not ${p.challenge.id}`);
          try {
            return { type: 'rows', rows: openWork(this.work, msg.indices) };
          } catch (e) {
            return fail(`open: ${(e as Error).message}`);
          }
        }
        if (msg.id !== p.challenge.id) return fail(`open for challenge ${msg.id}, not ${p.challenge.id}`);
        const { n } = p.challenge;
        if (msg.indices.length > n || msg.indices.some((i) => i < 0 || i >= n))
          return fail(`indices must be at most ${n} rows in [0, ${n})`);
        return { type: 'rows', rows: openRows(p, msg.indices) };
      }
      case 'error':
        return fail(`checker: ${msg.message}`);
    }
  }
}

/** Allocates and touches `mib` MiB (pages written, not only reserved). */
function holdMemory(mib: number, pattern: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let left = mib * MiB;
  while (left > 0) {
    const b = Buffer.allocUnsafeSlow(Math.min(BALLAST_CHUNK, left));
    b.fill(pattern);
    out.push(b);
    left -= b.length;
  }
  return out;
}

function write(output: Writable, m: ProverMessage): Promise<void> {
  return new Promise((resolve, reject) => output.write(encodeMessage(m), (e) => (e ? reject(e) : resolve())));
}

/** The stdio loop; resolves to the exit code. */
export async function runCpuProver(
  input: Readable = process.stdin,
  output: Writable = process.stdout,
  opts: CpuProverOptions = {},
): Promise<number> {
  const session = new CpuProverSession(opts);
  await write(output, session.ready());
  const lines = createInterface({ input, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const parsed = parseCheckerMessage(line);
    if (!parsed.ok) {
      await write(output, { type: 'error', message: `cpu prover: ${parsed.error}`, code: 'protocol' });
      return 1;
    }
    if (parsed.message.type === 'error') return 1;
    let out: ProverMessage;
    try {
      out = session.handle(parsed.message);
    } catch (e) {
      out = { type: 'error', message: `cpu prover: ${(e as Error).message}`, code: 'internal' };
    }
    await write(output, out);
    if (out.type === 'error') return out.code === 'memory' ? 3 : 1;
  }
  return 0;
}

function isMain(): boolean {
  try {
    return (
      !!process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))
    );
  } catch {
    return false;
  }
}

/**
 * Options from the command line: `--max-memory-mib N` caps the memory it will say this host can
 * give at N MiB (what os.freemem() says, at most N): a host that must not give a prover more than
 * N MiB, or a test that must fail a big claim whatever the machine it runs on has free.
 */
export function cpuProverArgs(argv: readonly string[]): CpuProverOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: { 'max-memory-mib': { type: 'string' } },
    strict: true,
    allowPositionals: false,
  });
  const cap = values['max-memory-mib'];
  if (cap === undefined) return {};
  if (!/^\d+$/.test(cap)) throw new Error(`--max-memory-mib must be a whole number of MiB, not "${cap}"`);
  const max = Number(cap);
  return { freeMemoryMiB: () => Math.min(max, Math.floor(freemem() / MiB)) };
}

if (isMain()) {
  Promise.resolve()
    .then(() => runCpuProver(process.stdin, process.stdout, cpuProverArgs(process.argv.slice(2))))
    .then(
      (code) => {
        process.exitCode = code;
      },
      (e: unknown) => {
        process.stderr.write(`cpu prover: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
        process.exitCode = 1;
      },
    );
}
