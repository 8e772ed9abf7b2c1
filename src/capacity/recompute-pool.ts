import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { RecomputeError, type Recomputer } from './recompute.js';
import { signalTimers, type Timers } from './prover.js';
import type { RecomputeReply, RecomputeRequest } from './recompute-worker.js';
import type { WorkParams } from './work.js';
import type { FillParams, ReadParams } from './memory.js';

/**
 * A Recomputer on worker threads (node:worker_threads): the checker's recomputation of the
 * throughput and memory proofs (seconds of CPU for a GPU class) runs off its event loop, which
 * keeps answering the bus, heartbeats and probes, and timing round trips, meanwhile.
 *
 * `size` workers (default 1), each started on its first job and kept; jobs beyond them wait in a
 * queue of at most `maxQueue` (default 32: a job holds only its seeds and picked rows), past which
 * a job fails at once ('busy'). A worker that dies (an uncaught error, an exit, out of memory) fails
 * its job ('crashed'), as does one past `jobTimeoutMs` ('timeout', and it is terminated); either is
 * replaced on the next job. Idle workers are unref'd (a pool nobody closed never keeps the process
 * alive); close() fails what is pending ('closed') and terminates every worker.
 *
 * The worker script: recompute-worker.js next to this module in dist/; in a checkout (this module
 * runs as .ts, under tsx or vitest) a small ESM boot registers tsx in the worker and imports
 * recompute-worker.ts, as bin/aethir.js does for the CLI.
 */

export interface RecomputePoolOptions {
  /** worker threads (default 1) */
  size?: number;
  /** jobs waiting for a worker beyond those running (default 32) */
  maxQueue?: number;
  /** the worker module (default recompute-worker next to this module; tests pass their own) */
  script?: URL;
  /** V8 heap limits of each worker */
  resourceLimits?: ResourceLimits;
  /**
   * a job still running after this long fails ('timeout') and its worker is terminated (default
   * 300 s: the recomputation for the largest class takes tens of seconds on one core)
   */
  jobTimeoutMs?: number;
  /** the wait of jobTimeoutMs */
  timers?: Timers;
}

interface Job {
  req: RecomputeRequest;
  cancelTimeout?: () => void;
  resolve: (values: Int32Array | Float64Array | Float64Array[]) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker | null;
  job: Job | null;
}

const FROM_TS = import.meta.url.endsWith('.ts');

/** Registers tsx in the worker, then imports the worker script (workerData: tsx, script). */
const TS_BOOT = `import { workerData } from 'node:worker_threads';
const { register } = await import(workerData.tsx);
register();
await import(workerData.script);
`;

/** tsx's ESM API (`tsx/esm/api` under the import condition), as a file URL. */
let tsxApi: string | null = null;
function tsxEsmApi(): string {
  if (tsxApi) return tsxApi;
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as {
    exports?: Record<string, { import?: { default?: string } }>;
  };
  const rel = pkg.exports?.['./esm/api']?.import?.default;
  if (!rel) throw new Error('tsx has no ESM API (tsx/esm/api) to load TypeScript in a worker');
  return (tsxApi = new URL(rel, pathToFileURL(pkgPath)).href);
}

function defaultScript(): URL {
  return new URL(FROM_TS ? './recompute-worker.ts' : './recompute-worker.js', import.meta.url);
}

export class RecomputePool implements Recomputer {
  private readonly slots: Slot[];
  private readonly queue: Job[] = [];
  private readonly maxQueue: number;
  private readonly script: URL;
  private readonly resourceLimits: ResourceLimits | undefined;
  private readonly jobTimeoutMs: number;
  private readonly timers: Timers;
  private nextId = 1;
  private closed = false;

  constructor(opts: RecomputePoolOptions = {}) {
    const size = opts.size ?? 1;
    const maxQueue = opts.maxQueue ?? 32;
    if (!Number.isSafeInteger(size) || size < 1 || size > 64)
      throw new RangeError('size must be an integer in [1, 64]');
    if (!Number.isSafeInteger(maxQueue) || maxQueue < 0)
      throw new RangeError('maxQueue must be a non-negative integer');
    this.slots = Array.from({ length: size }, () => ({ worker: null, job: null }));
    this.maxQueue = maxQueue;
    this.script = opts.script ?? defaultScript();
    this.resourceLimits = opts.resourceLimits;
    this.jobTimeoutMs = opts.jobTimeoutMs ?? 300_000;
    if (!(this.jobTimeoutMs > 0)) throw new RangeError('jobTimeoutMs must be positive');
    this.timers = opts.timers ?? signalTimers;
  }

  /** Live worker threads. */
  get threads(): number {
    return this.slots.filter((s) => s.worker !== null).length;
  }

  /** Jobs running and waiting. */
  get pending(): number {
    return this.slots.filter((s) => s.job !== null).length + this.queue.length;
  }

  freivalds(seed: string, n: number, vectors: readonly Float64Array[]): Promise<Float64Array[]> {
    return this.submit({ kind: 'freivalds', seed, n, vectors: [...vectors] }) as Promise<Float64Array[]>;
  }

  productRows(seed: string, n: number, indices: readonly number[]): Promise<Float64Array[]> {
    return this.submit({ kind: 'rows', seed, n, indices: [...indices] }) as Promise<Float64Array[]>;
  }

  workDigests(
    prepareSeed: string,
    workSeed: string,
    p: WorkParams,
    rows: readonly number[],
  ): Promise<Int32Array> {
    return this.submit({
      kind: 'work',
      prepareSeed,
      workSeed,
      p: { n: p.n, pool: p.pool, products: p.products },
      rows: [...rows],
    }) as Promise<Int32Array>;
  }

  groupSums(
    fillSeed: string,
    readSeed: string,
    p: FillParams & ReadParams,
    groups: readonly number[],
  ): Promise<Float64Array> {
    return this.submit({
      kind: 'memory',
      fillSeed,
      readSeed,
      p: { tiles: p.tiles, m: p.m, depth: p.depth, groups: p.groups, perGroup: p.perGroup },
      groups: [...groups],
    }) as Promise<Float64Array>;
  }

  /** Fails every pending job ('closed') and terminates every worker; later jobs fail at once. */
  async close(): Promise<void> {
    this.closed = true;
    const gone = new RecomputeError('closed', 'the verification pool was closed');
    for (const job of this.queue.splice(0)) job.reject(gone);
    const exits: Array<Promise<number>> = [];
    for (const slot of this.slots) {
      const { worker, job } = slot;
      slot.worker = null;
      slot.job = null;
      job?.cancelTimeout?.();
      job?.reject(gone);
      if (worker) exits.push(worker.terminate());
    }
    await Promise.allSettled(exits);
  }

  private submit(
    body: DistributiveOmit<RecomputeRequest, 'id'>,
  ): Promise<Int32Array | Float64Array | Float64Array[]> {
    if (this.closed) return Promise.reject(new RecomputeError('closed', 'the verification pool is closed'));
    return new Promise((resolve, reject) => {
      const job: Job = { req: { ...body, id: this.nextId++ } as RecomputeRequest, resolve, reject };
      const free = this.slots.find((s) => s.job === null);
      if (free) return this.run(free, job);
      if (this.queue.length >= this.maxQueue)
        return reject(
          new RecomputeError(
            'busy',
            `${this.slots.length + this.queue.length} verifications already running or waiting`,
          ),
        );
      this.queue.push(job);
    });
  }

  private run(slot: Slot, job: Job): void {
    slot.job = job;
    let worker = slot.worker;
    if (!worker) {
      try {
        worker = slot.worker = this.start(slot);
      } catch (e) {
        slot.job = null;
        job.reject(
          new RecomputeError('crashed', `cannot start a verification worker: ${(e as Error).message}`),
        );
        return this.next(slot);
      }
    }
    worker.ref();
    const w = worker;
    job.cancelTimeout = this.timers.after(this.jobTimeoutMs, () => {
      if (slot.job === job) this.died(slot, w, 'timeout', `took longer than ${this.jobTimeoutMs} ms`);
    });
    try {
      worker.postMessage(job.req);
    } catch (e) {
      slot.job = null;
      job.cancelTimeout();
      worker.unref();
      job.reject(new RecomputeError('failed', `cannot send the job to its worker: ${(e as Error).message}`));
      this.next(slot);
    }
  }

  /** The worker of `slot` is gone (or is being ended): its job fails, the next job starts a new one. */
  private died(slot: Slot, w: Worker, kind: 'crashed' | 'timeout', why: string): void {
    if (slot.worker !== w) return;
    slot.worker = null;
    const job = slot.job;
    slot.job = null;
    void w.terminate();
    job?.cancelTimeout?.();
    job?.reject(new RecomputeError(kind, `the verification worker ${why}`));
    this.next(slot);
  }

  /** The next queued job on a slot that just became free. */
  private next(slot: Slot): void {
    const job = this.queue.shift();
    if (job) this.run(slot, job);
  }

  private start(slot: Slot): Worker {
    const opts = this.resourceLimits ? { resourceLimits: this.resourceLimits } : {};
    const w = FROM_TS
      ? new Worker(new URL(`data:text/javascript,${encodeURIComponent(TS_BOOT)}`), {
          ...opts,
          workerData: {
            aethirRecompute: true,
            tsx: tsxEsmApi(),
            script: this.script.href,
          },
        })
      : new Worker(this.script, { ...opts, workerData: { aethirRecompute: true } });
    w.on('message', (reply: RecomputeReply) => {
      if (slot.worker !== w) return;
      const job = slot.job;
      if (!job || reply?.id !== job.req.id) return;
      slot.job = null;
      job.cancelTimeout?.();
      w.unref();
      if (reply.ok) job.resolve(reply.values);
      else job.reject(new RecomputeError('failed', `the verification failed in its worker: ${reply.error}`));
      this.next(slot);
    });
    const died = (why: string) => this.died(slot, w, 'crashed', why);
    w.on('error', (e) => died(`crashed: ${e.message}`));
    w.on('messageerror', (e) => died(`sent a message that cannot be read: ${e.message}`));
    w.on('exit', (code) => died(`exited with code ${code}`));
    return w;
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
