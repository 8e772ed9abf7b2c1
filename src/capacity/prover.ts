import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Clock, Rng } from '../core/clock.js';
import {
  CAPACITY_PROTOCOL_VERSION,
  DEFAULT_SPOT_ROWS,
  issueChallenge,
  pickIndices,
  randomHex,
  type Challenge,
} from './challenge.js';
import { sizeFor, type CapacityClaim } from './sizing.js';
import { DEFAULT_VERIFIED_ROWS, pickWorkRows, validateWorkParams, type WorkProofParams } from './work.js';
import {
  DEFAULT_VERIFIED_GROUPS,
  pickGroups,
  tileBytes,
  validateMemoryParams,
  type MemoryProofParams,
} from './memory.js';
import {
  inlineRecomputer,
  spotCheckWith,
  verifyReadsWith,
  verifyWorkWith,
  type Recomputer,
} from './recompute.js';
import {
  encodeMessage,
  parseProverMessage,
  type CheckerMessage,
  type ErrorMessage,
  type ProverMessage,
  type ReadyMessage,
} from './protocol.js';

/**
 * The checker's side of Proof of Capacity: start a prover (a command speaking the protocol of
 * protocol.ts on stdin/stdout, or any ProverChannel), challenge it, hold it to the deadline, open
 * k random rows and spot-check them. Every wait is bounded: a prover that hangs, crashes or
 * prints garbage fails with a reason, and a spawned prover is always killed at the end.
 */

// ---------------------------------------------------------------------------------------------
// Timers and randomness
// ---------------------------------------------------------------------------------------------

/**
 * Wall-clock waits at the process boundary. The verdict itself is timed with the injected Clock;
 * a Timers only decides when to stop waiting for a prover that does not answer.
 */
export interface Timers {
  /** calls fn once after ms; returns a cancel function */
  after(ms: number, fn: () => void): () => void;
}

/** Timers on AbortSignal.timeout (unref'd: a pending wait never keeps a process alive by itself). */
export const signalTimers: Timers = {
  after(ms, fn) {
    const signal = AbortSignal.timeout(Math.min(2 ** 31 - 1, Math.max(0, Math.ceil(ms))));
    signal.addEventListener('abort', fn, { once: true });
    return () => signal.removeEventListener('abort', fn);
  },
};

/**
 * An Rng on the operating system's CSPRNG. The challenge seed, the opened rows and Freivalds'
 * vectors must be unpredictable to the prover: a checker in production passes this one, never a
 * SeededRng (whose 32-bit seed a cheater could search from the seed it was sent).
 */
export function secureRng(): Rng {
  const buf = new Uint32Array(256);
  let i = buf.length;
  const nextU32 = () => {
    if (i >= buf.length) {
      randomFillSync(buf);
      i = 0;
    }
    return buf[i++]!;
  };
  const next = () => (nextU32() * 2 ** 21 + (nextU32() >>> 11)) / 2 ** 53;
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  return {
    nextU32,
    next,
    int,
    pick<T>(items: readonly T[]): T {
      if (items.length === 0) throw new RangeError('pick from an empty list');
      return items[int(0, items.length - 1)]!;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Channels
// ---------------------------------------------------------------------------------------------

export type Received =
  | { kind: 'message'; message: ProverMessage }
  | { kind: 'invalid'; line: string; error: string }
  | { kind: 'timeout' }
  | { kind: 'closed'; reason: string; started: boolean };

/** A line-oriented connection to a prover. */
export interface ProverChannel {
  send(m: CheckerMessage): void;
  /** the next message, or why there is none within timeoutMs */
  receive(timeoutMs: number): Promise<Received>;
  /** ends the session; a spawned prover is killed if it does not exit on its own */
  close(): Promise<void>;
  /** the last lines the prover wrote to stderr, for reasons */
  stderrTail?(): string;
}

/**
 * What a ProverChannel has received and not yet handed out, and at most one receiver waiting for
 * the next: every channel (spawned, over the bus, in process) delivers through one of these.
 */
export class ReceiveQueue {
  private readonly queue: Received[] = [];
  private waiter: ((r: Received) => void) | null = null;

  constructor(private readonly timers: Timers = signalTimers) {}

  /** hands `r` to the waiting receiver, or keeps it for the next receive */
  deliver(r: Received): void {
    if (this.waiter) this.waiter(r);
    else this.queue.push(r);
  }

  /** the next kept message; else `ended` at once when the session is over; else waits up to timeoutMs */
  receive(timeoutMs: number, ended: Received | null): Promise<Received> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (ended) return Promise.resolve(ended);
    return new Promise((resolve) => {
      let cancel = () => {};
      const mine = (r: Received) => {
        cancel();
        if (this.waiter === mine) this.waiter = null;
        resolve(r);
      };
      this.waiter = mine;
      cancel = this.timers.after(timeoutMs, () => mine({ kind: 'timeout' }));
    });
  }

  /** the session ended: a receiver waiting on an empty queue gets `r` now */
  end(r: Received): void {
    if (this.waiter && this.queue.length === 0) this.waiter(r);
  }
}

/**
 * A ProverChannel answered by a function in this process (an in-process prover, a test's scripted
 * prover): `ready` is the first message; each sent message is answered asynchronously (never inside
 * the sender's call, as a real prover's answer would not be), errors thrown by `handle` become `internal` error messages; `onClose`
 * runs once when the session ends.
 */
export function handlerChannel(
  ready: ReadyMessage,
  handle: (m: CheckerMessage) => ProverMessage | Promise<ProverMessage>,
  onClose: () => void = () => {},
): ProverChannel {
  const inbox = new ReceiveQueue();
  inbox.deliver({ kind: 'message', message: ready });
  const ended: Received = { kind: 'closed', reason: 'the session ended', started: true };
  let closed = false;
  return {
    send(m) {
      if (closed) return;
      void (async () => {
        await Promise.resolve(); // never inside the caller's own call
        if (closed) return;
        let out: ProverMessage;
        try {
          out = await handle(m);
        } catch (e) {
          out = { type: 'error', code: 'internal', message: `${ready.prover}: ${(e as Error).message}` };
        }
        if (!closed) inbox.deliver({ kind: 'message', message: out });
      })();
    },
    receive(timeoutMs) {
      return inbox.receive(timeoutMs, closed ? ended : null);
    },
    async close() {
      if (closed) return;
      closed = true;
      onClose();
      inbox.end(ended);
    },
  };
}

export interface SpawnOptions {
  timers?: Timers;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** a longer line is a protocol violation (default 64 MiB: 32 rows of n = 32,768 take ~12 MB) */
  maxLineBytes?: number;
  /** after close() ends its stdin, the prover has this long to exit before SIGKILL (default 2 s) */
  killAfterMs?: number;
}

const NEWLINE = 0x0a;

class SpawnedProver implements ProverChannel {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly timers: Timers;
  private readonly maxLineBytes: number;
  private readonly killAfterMs: number;
  private readonly inbox: ReceiveQueue;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private closed: { reason: string; started: boolean } | null = null;
  private stderr = '';
  private exited = false;
  private readonly exit: Promise<void>;

  constructor(argv: readonly string[], opts: SpawnOptions) {
    if (argv.length === 0) throw new RangeError('empty prover command');
    this.timers = opts.timers ?? signalTimers;
    this.inbox = new ReceiveQueue(this.timers);
    this.maxLineBytes = opts.maxLineBytes ?? 64 * 1024 * 1024;
    this.killAfterMs = opts.killAfterMs ?? 2000;
    this.child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    const child = this.child;
    child.stdout.on('data', (d: Buffer) => this.onData(d));
    child.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString('utf8')).slice(-4096);
    });
    child.stdin.on('error', () => {}); // EPIPE when the prover is gone: its exit says why
    this.exit = new Promise((resolve) => {
      child.on('error', (e) => {
        this.exited = true;
        this.finish(`cannot run ${argv[0]}: ${e.message}`, child.pid !== undefined);
        resolve();
      });
      child.on('exit', () => {
        this.exited = true;
        resolve();
      });
    });
    child.on('close', (code, signal) =>
      this.finish(
        code !== null ? `the prover exited with code ${code}` : `the prover was killed (${signal})`,
        true,
      ),
    );
  }

  send(m: CheckerMessage): void {
    if (this.closed || !this.child.stdin.writable) return;
    this.child.stdin.write(encodeMessage(m));
  }

  receive(timeoutMs: number): Promise<Received> {
    return this.inbox.receive(timeoutMs, this.closed ? { kind: 'closed', ...this.closed } : null);
  }

  async close(): Promise<void> {
    if (!this.exited) {
      this.child.stdin.end();
      await new Promise<void>((resolve) => {
        const cancel = this.timers.after(this.killAfterMs, () => {
          this.child.kill('SIGKILL');
          resolve();
        });
        void this.exit.then(() => {
          cancel();
          resolve();
        });
      });
      await this.exit;
    }
    this.child.stdout.destroy();
    this.child.stderr.destroy();
  }

  stderrTail(): string {
    return this.stderr;
  }

  private deliver(r: Received): void {
    this.inbox.deliver(r);
  }

  private onData(d: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = d.indexOf(NEWLINE, start);
      if (nl < 0) break;
      const piece = d.subarray(start, nl);
      const line = this.pending.length ? Buffer.concat([...this.pending, piece]) : piece;
      this.pending = [];
      this.pendingBytes = 0;
      this.line(line.toString('utf8'));
      start = nl + 1;
    }
    if (start < d.length) {
      this.pending.push(d.subarray(start));
      this.pendingBytes += d.length - start;
      if (this.pendingBytes > this.maxLineBytes) {
        this.pending = [];
        this.pendingBytes = 0;
        this.deliver({ kind: 'invalid', line: '', error: `a line longer than ${this.maxLineBytes} bytes` });
        this.child.kill('SIGKILL');
      }
    }
  }

  private line(text: string): void {
    const line = text.endsWith('\r') ? text.slice(0, -1) : text;
    if (line.trim() === '') return;
    const parsed = parseProverMessage(line);
    this.deliver(
      parsed.ok
        ? { kind: 'message', message: parsed.message }
        : { kind: 'invalid', line, error: parsed.error },
    );
  }

  private finish(reason: string, started: boolean): void {
    if (this.closed) return;
    if (this.pending.length) {
      const rest = Buffer.concat(this.pending).toString('utf8');
      this.pending = [];
      this.line(rest);
    }
    this.closed = { reason, started };
    this.inbox.end({ kind: 'closed', reason, started });
  }
}

/** Starts a prover command (argv) and speaks the protocol with it over its stdin/stdout. */
export function spawnProver(argv: readonly string[], opts: SpawnOptions = {}): ProverChannel {
  return new SpawnedProver(argv, opts);
}

/**
 * argv of the built-in CPU prover (through tsx from a checkout, plain node from dist/), with `args`
 * after the script (e.g. --max-memory-mib N: see cpuProverArgs).
 */
export function cpuProverCommand(args: readonly string[] = []): string[] {
  const fromTs = import.meta.url.endsWith('.ts');
  const script = fileURLToPath(new URL(fromTs ? './cpu-prover.ts' : './cpu-prover.js', import.meta.url));
  if (!fromTs) return [process.execPath, script, ...args];
  const tsx = createRequire(import.meta.url).resolve('tsx');
  return [process.execPath, '--import', pathToFileURL(tsx).href, script, ...args];
}

/** The GPU prover's script (Python + PyTorch), next to this module. */
export const GPU_PROVER_SCRIPT = fileURLToPath(new URL('./gpu_prover.py', import.meta.url));

/** argv of the GPU prover: python3 -u gpu_prover.py [args] */
export function gpuProverCommand(python = 'python3', args: readonly string[] = []): string[] {
  if (!existsSync(GPU_PROVER_SCRIPT))
    throw new Error(`${GPU_PROVER_SCRIPT} is missing: copy gpu_prover.py next to the built prover module`);
  return [python, '-u', GPU_PROVER_SCRIPT, ...args];
}

// ---------------------------------------------------------------------------------------------
// The check
// ---------------------------------------------------------------------------------------------

export type CapacityFailure =
  /** the checker could not start the prover: the checker's problem, not the host's */
  | 'spawn'
  /** no ready message in time */
  | 'startup'
  /** no commitment before the deadline */
  | 'deadline'
  /** a line that is not the expected protocol message */
  | 'protocol'
  /** the prover said it could not prove */
  | 'prover-error'
  /** it could not hold the memory the claim requires */
  | 'memory'
  /** it exited before it finished */
  | 'crash'
  /** no rows in time after the open */
  | 'timeout'
  /** the opened rows are wrong, or not those the root commits to */
  | 'spot-check'
  /** the throughput proof's products came late, or their digests are wrong */
  | 'throughput'
  /**
   * the checker could not verify what the prover answered (its verification worker crashed or is
   * overloaded): the checker's failure, not the host's, and no verdict on the container
   */
  | 'checker';

export interface CapacityResult {
  ok: boolean;
  code: 'passed' | CapacityFailure;
  reason: string;
  /** from sending the challenge to receiving the commitment, on the checker's clock */
  proveMs: number | null;
  /** the spot check, on the checker's clock */
  verifyMs: number | null;
  n: number;
  k: number;
  deadlineMs: number;
  challengeId: string | null;
  prover: ReadyMessage | null;
  /** the throughput proof, when it ran: its parameters and the checker-clock times of its phases */
  work?: {
    n: number;
    pool: number;
    products: number;
    prepareMs: number | null;
    workMs: number | null;
    deadlineMs: number;
  };
  /** the memory proof, when it ran: its parameters and the checker-clock times of its phases */
  memory?: {
    tiles: number;
    m: number;
    depth: number;
    groups: number;
    perGroup: number;
    fillMs: number | null;
    readMs: number | null;
    fillDeadlineMs: number;
    readDeadlineMs: number;
  };
}

export interface CapacityCheckOptions {
  /** a prover command (argv) to spawn, or an open channel */
  prover: readonly string[] | ProverChannel;
  claim: CapacityClaim;
  /** seeds, opened rows and Freivalds' vectors: secureRng() in production */
  rng: Rng;
  clock: Clock;
  timers?: Timers;
  /** rows to open (default 32) */
  k?: number;
  /** recompute the opened rows instead of Freivalds' check */
  exact?: boolean;
  /** overrides of sizeFor(claim) */
  n?: number;
  deadlineMs?: number;
  /** null: no memory test */
  memoryMiB?: number | null;
  /** round trip to a remote prover, added to the deadline */
  rttMs?: number;
  /** how long the prover may take to start (Python + CUDA: seconds; default 60 s) */
  startupTimeoutMs?: number;
  /** how long the prover may take to answer the open (default 30 s) */
  openTimeoutMs?: number;
  /** for a spawned prover */
  spawn?: Omit<SpawnOptions, 'timers'>;
  /**
   * The memory proof after the compute proof (memory.ts): its parameters, or null for none. Default:
   * sizeFor(claim)'s (GPU classes claiming memory), none when memoryMiB is null or n is given (a
   * scaled-down check: the full-size memory proof would not fit it).
   */
  memoryProof?: MemoryProofParams | null;
  /** groups of the read the checker recomputes (default 16) */
  verifiedGroups?: number;
  /**
   * The throughput proof after the compute proof (work.ts), or null for none. Default: sizeFor(claim)'s
   * (GPU classes), none when n is given or memoryMiB is null (as for the memory proof).
   */
  workProof?: WorkProofParams | null;
  /** rows of the throughput proof the checker recomputes (default 16) */
  verifiedWorkRows?: number;
  /**
   * where the throughput and memory proofs are recomputed (default inline, on this event loop; a
   * checker passes a RecomputePool: recompute-pool.ts). Its failure fails the check as 'checker'.
   */
  recompute?: Recomputer;
}

function stderrNote(channel: ProverChannel): string {
  const tail = channel.stderrTail?.().trim();
  if (!tail) return '';
  const last = tail.split('\n').slice(-3).join(' | ');
  return `; stderr: ${last.length > 400 ? `…${last.slice(-400)}` : last}`;
}

const preview = (s: string) => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);

/** Runs one capacity check against a prover. Never throws for the prover's misbehaviour. */
export async function runCapacityCheck(opts: CapacityCheckOptions): Promise<CapacityResult> {
  const size = sizeFor(opts.claim, opts.rttMs !== undefined ? { rttMs: opts.rttMs } : {});
  const n = opts.n ?? size.n;
  const deadlineMs = opts.deadlineMs ?? size.deadlineMs;
  const memoryMiB = opts.memoryMiB === null ? undefined : (opts.memoryMiB ?? size.memoryMiB);
  const k = Math.min(n, opts.k ?? DEFAULT_SPOT_ROWS);
  const timers = opts.timers ?? signalTimers;
  const recompute = opts.recompute ?? inlineRecomputer;
  const { clock, rng } = opts;

  let challenge: Challenge | null = null;
  let ready: ReadyMessage | null = null;
  let proveMs: number | null = null;
  let verifyMs: number | null = null;
  // the default memory proof is full size: a scaled-down check (n given) or one without a memory
  // test (memoryMiB: null) runs it only when given explicitly
  const mp =
    opts.memoryProof === null ||
    (opts.memoryProof === undefined && (opts.memoryMiB === null || opts.n !== undefined))
      ? undefined
      : (opts.memoryProof ?? size.memoryProof);
  const wp =
    opts.workProof === null ||
    (opts.workProof === undefined && (opts.memoryMiB === null || opts.n !== undefined))
      ? undefined
      : (opts.workProof ?? size.workProof);
  let memory: CapacityResult['memory'];
  let work: CapacityResult['work'];
  const result = (code: CapacityResult['code'], reason: string): CapacityResult => ({
    ok: code === 'passed',
    code,
    reason,
    proveMs,
    verifyMs,
    n,
    k,
    deadlineMs,
    challengeId: challenge?.id ?? null,
    prover: ready,
    ...(work ? { work: { ...work } } : {}),
    ...(memory ? { memory: { ...memory } } : {}),
  });

  const spawned = Array.isArray(opts.prover);
  let channel: ProverChannel;
  try {
    channel = spawned
      ? spawnProver(opts.prover as readonly string[], { ...opts.spawn, timers })
      : (opts.prover as ProverChannel);
  } catch (e) {
    return result('spawn', `cannot start the prover: ${(e as Error).message}`);
  }

  /** The reply expected at `stage`, or the failure that replaces it. */
  const expect = async <T extends ProverMessage['type']>(
    type: T,
    timeoutMs: number,
    stage: string,
    onTimeout: [CapacityFailure, string],
  ): Promise<Extract<ProverMessage, { type: T }> | CapacityResult> => {
    const r = await channel.receive(timeoutMs);
    switch (r.kind) {
      case 'timeout':
        return result(...onTimeout);
      case 'closed':
        return r.started
          ? result('crash', `${r.reason} ${stage}${stderrNote(channel)}`)
          : result('spawn', `${r.reason}${stderrNote(channel)}`);
      case 'invalid':
        return result(
          'protocol',
          `the prover printed a line that is not a protocol message (${r.error}) ${stage}: ${preview(r.line)}`,
        );
      case 'message': {
        const m = r.message;
        if (m.type === type) return m as Extract<ProverMessage, { type: T }>;
        if (m.type === 'error') {
          const e = m as ErrorMessage;
          return result(
            e.code === 'memory' ? 'memory' : 'prover-error',
            `the prover failed ${stage}: ${e.message}`,
          );
        }
        return result('protocol', `expected "${type}" ${stage}, got "${m.type}"`);
      }
    }
  };
  const isResult = (v: unknown): v is CapacityResult => typeof v === 'object' && v !== null && 'code' in v;

  try {
    const startupMs = opts.startupTimeoutMs ?? 60_000;
    const r = await expect('ready', startupMs, 'on start', ['startup', `no "ready" within ${startupMs} ms`]);
    if (isResult(r)) return r;
    ready = r;
    if (r.version !== CAPACITY_PROTOCOL_VERSION)
      return result(
        'protocol',
        `the prover speaks protocol version ${r.version}, not ${CAPACITY_PROTOCOL_VERSION}`,
      );

    challenge = issueChallenge(rng, clock, {
      n,
      deadlineMs,
      ...(memoryMiB !== undefined ? { memoryMiB } : {}),
    });
    const sentAt = clock.now();
    channel.send({ type: 'challenge', version: CAPACITY_PROTOCOL_VERSION, ...challenge });
    const openMs = opts.openTimeoutMs ?? 30_000;
    const c = await expect('commitment', deadlineMs, 'before its commitment', [
      'deadline',
      `no commitment within the deadline of ${deadlineMs} ms (n = ${n})`,
    ]);
    proveMs = clock.now() - sentAt;
    if (isResult(c)) return c.code === 'deadline' ? { ...c, proveMs: null } : c;
    if (proveMs > deadlineMs)
      return result(
        'deadline',
        `the commitment came after ${proveMs} ms, past the deadline of ${deadlineMs} ms`,
      );
    if (c.id !== undefined && c.id !== challenge.id)
      return result('protocol', `a commitment for challenge ${preview(c.id)}, not ${challenge.id}`);
    if (memoryMiB !== undefined && !(typeof c.memoryMiB === 'number' && c.memoryMiB >= memoryMiB))
      return result(
        'memory',
        `the prover held ${c.memoryMiB ?? 'no'} MiB at once, the claim requires ${memoryMiB} MiB`,
      );

    const indices = pickIndices(rng, n, k);
    channel.send({ type: 'open', id: challenge.id, indices });
    const rows = await expect('rows', openMs, 'after the open', [
      'timeout',
      `no rows within ${openMs} ms of the open`,
    ]);
    if (isResult(rows)) return rows;

    const v0 = clock.now();
    let check;
    try {
      check = await spotCheckWith(recompute, challenge, { root: c.root }, rows.rows, {
        indices,
        rng,
        ...(opts.exact ? { exact: true } : {}),
      });
    } catch (e) {
      return result('checker', `the checker could not verify the opened rows: ${(e as Error).message}`);
    }
    verifyMs = clock.now() - v0;
    if (!check.ok) return result('spot-check', check.reason);
    let passed = `${k} of ${n} rows verified; committed in ${proveMs} ms of ${deadlineMs} ms`;

    if (wp) {
      // The throughput proof: an untimed prepare (generation, allocation, first kernels), then the
      // products of a seed the prover learns only when the clock starts.
      validateWorkParams(wp);
      work = {
        n: wp.n,
        pool: wp.pool,
        products: wp.products,
        prepareMs: null,
        workMs: null,
        deadlineMs: wp.deadlineMs,
      };
      const prepareSeed = randomHex(rng, 32);
      const p0 = clock.now();
      channel.send({
        type: 'prepare',
        id: challenge.id,
        seed: prepareSeed,
        n: wp.n,
        pool: wp.pool,
        deadlineMs: wp.prepareTimeoutMs,
      });
      const prepared = await expect('prepared', wp.prepareTimeoutMs, 'during the prepare', [
        'timeout',
        `no "prepared" within ${wp.prepareTimeoutMs} ms`,
      ]);
      work.prepareMs = clock.now() - p0;
      if (isResult(prepared)) return prepared;
      const workSeed = randomHex(rng, 32);
      const w0 = clock.now();
      channel.send({
        type: 'work',
        id: challenge.id,
        seed: workSeed,
        products: wp.products,
        deadlineMs: wp.deadlineMs,
      });
      const wr = await expect('work-root', wp.deadlineMs, 'during the work', [
        'throughput',
        `no answer to ${wp.products} products of n = ${wp.n} within ${wp.deadlineMs} ms: slower than the claimed class`,
      ]);
      work.workMs = clock.now() - w0;
      if (isResult(wr)) return wr;
      if (work.workMs > wp.deadlineMs)
        return result(
          'throughput',
          `the products took ${work.workMs} ms, past their deadline of ${wp.deadlineMs} ms: slower than the claimed class`,
        );
      if (wr.id !== undefined && wr.id !== challenge.id)
        return result('protocol', `a work root for challenge ${preview(wr.id)}, not ${challenge.id}`);
      const picked = pickWorkRows(rng, wp, opts.verifiedWorkRows ?? DEFAULT_VERIFIED_ROWS);
      channel.send({ type: 'open', id: challenge.id, indices: picked.leaves });
      const opened = await expect('rows', openMs, 'after the open of the work', [
        'timeout',
        `no digests within ${openMs} ms of the open`,
      ]);
      if (isResult(opened)) return opened;
      let wc;
      try {
        wc = await verifyWorkWith(
          recompute,
          challenge.id,
          prepareSeed,
          workSeed,
          wp,
          wr.root,
          opened.rows,
          picked,
        );
      } catch (e) {
        return result(
          'checker',
          `the checker could not verify the throughput proof: ${(e as Error).message}`,
        );
      }
      if (!wc.ok) return result('throughput', `the throughput proof failed: ${wc.reason}`);
      passed += `; ${wp.products} products of n = ${wp.n} in ${work.workMs} ms of ${wp.deadlineMs} ms, ${wc.rows} rows verified`;
    }
    if (!mp) return result('passed', passed);

    // The memory proof: fill, then reads at positions the prover learns only now.
    validateMemoryParams(mp);
    const { tiles, m, depth, groups, perGroup, fillDeadlineMs, readDeadlineMs } = mp;
    memory = {
      tiles,
      m,
      depth,
      groups,
      perGroup,
      fillMs: null,
      readMs: null,
      fillDeadlineMs,
      readDeadlineMs,
    };
    const fillSeed = randomHex(rng, 32);
    const f0 = clock.now();
    channel.send({
      type: 'fill',
      id: challenge.id,
      seed: fillSeed,
      tiles,
      m,
      depth,
      deadlineMs: fillDeadlineMs,
    });
    const filled = await expect('filled', fillDeadlineMs, 'during the fill', [
      'memory',
      `the fill of ${tiles} tiles (${Math.round(tileBytes(mp) / 2 ** 20)} MiB) did not end within ${fillDeadlineMs} ms`,
    ]);
    memory.fillMs = clock.now() - f0;
    if (isResult(filled)) return filled;
    if (memory.fillMs > fillDeadlineMs)
      return result(
        'memory',
        `the fill ended after ${memory.fillMs} ms, past its deadline of ${fillDeadlineMs} ms`,
      );
    const readSeed = randomHex(rng, 32);
    const r0 = clock.now();
    channel.send({
      type: 'read',
      id: challenge.id,
      seed: readSeed,
      groups,
      perGroup,
      deadlineMs: readDeadlineMs,
    });
    const rr = await expect('read-root', readDeadlineMs, 'during the read', [
      'memory',
      `no answer to the read of ${groups}×${perGroup} words within ${readDeadlineMs} ms: the tiles are not all held on the device`,
    ]);
    memory.readMs = clock.now() - r0;
    if (isResult(rr)) return rr;
    if (memory.readMs > readDeadlineMs)
      return result(
        'memory',
        `the read took ${memory.readMs} ms, past its deadline of ${readDeadlineMs} ms: the tiles are not all held on the device`,
      );
    const picked = pickGroups(rng, groups, opts.verifiedGroups ?? DEFAULT_VERIFIED_GROUPS);
    channel.send({ type: 'open', id: challenge.id, indices: picked.leaves });
    const sums = await expect('rows', openMs, 'after the open of the read', [
      'timeout',
      `no sums within ${openMs} ms of the open`,
    ]);
    if (isResult(sums)) return sums;
    let mc;
    try {
      mc = await verifyReadsWith(recompute, challenge.id, fillSeed, readSeed, mp, rr.root, sums.rows, picked);
    } catch (e) {
      return result('checker', `the checker could not verify the memory proof: ${(e as Error).message}`);
    }
    if (!mc.ok) return result('memory', `the memory proof failed: ${mc.reason}`);
    return result(
      'passed',
      `${passed}; ${tiles} tiles (${Math.round(tileBytes(mp) / 2 ** 20)} MiB) filled in ${memory.fillMs} ms, read in ${memory.readMs} ms of ${readDeadlineMs} ms, ${mc.groups} groups verified`,
    );
  } finally {
    if (spawned) await channel.close();
  }
}
