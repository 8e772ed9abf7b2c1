/**
 * What every runtime's workload does the same way, whatever runs it (a host process, a container):
 * the event log behind `events()`/`onEvent()`/`exited`, the checks on a spec that do not depend on
 * how it is run, and the steps of stopping and ending a workload.
 */
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { AethirError } from '../../core/errors.js';
import { droppedText, OutputRing, type RingCursor } from '../output-ring.js';
import type {
  RunningWorkload,
  WorkloadEvent,
  WorkloadExitEvent,
  WorkloadLimits,
  WorkloadSpec,
} from './runtime.js';

// The id names a directory or container, so it must never contain '/', '.' or '..'; the length cap
// keeps `baseDir/<leaseId>` well under NAME_MAX.
export const LEASE_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;
// After the workload stops, how long its output may take to deliver the rest and end.
export const DRAIN_TIMEOUT_MS = 5000;
// setTimeout overflows (and fires at once) past 2^31-1 ms, about 24.8 days; leases can be longer.
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** An exit event as a workload decides it; `type` and `at` are added when it is emitted. */
export type ExitFields = Omit<WorkloadExitEvent, 'type' | 'at'>;
/** Why a workload is being stopped: set once, it decides the exit reason even if the workload then exits 0. */
export type StopRequest = Pick<WorkloadExitEvent, 'reason' | 'message' | 'limit'>;

/** How much of a workload's output its event log keeps for replay (the last MiB). */
export const OUTPUT_RING_BYTES = 1 << 20;

/**
 * A workload's events: the last `ringBytes` of output (and the exit) are kept, so `events()` can
 * replay them and then follow live ones until 'exit', the last; where output was dropped (from the
 * ring, or because a reader fell more than the ring behind) that reader gets one marker event saying
 * how many bytes. `onEvent()` listeners see only live ones. A workload printing without end cannot
 * grow the agent past the ring.
 */
export class WorkloadEventLog {
  /** Resolves (never rejects) with the 'exit' event once it has been emitted. */
  readonly exited: Promise<WorkloadExitEvent>;
  private readonly ring: OutputRing<WorkloadEvent>;
  private readonly listeners = new Set<(e: WorkloadEvent) => void>();
  private wake!: () => void;
  private wakeup: Promise<void>;
  private resolveExited!: (e: WorkloadExitEvent) => void;

  constructor(ringBytes = OUTPUT_RING_BYTES) {
    this.ring = new OutputRing<WorkloadEvent>(ringBytes, (bytes, at) => ({
      type: 'stderr',
      data: droppedText(bytes, `more than ${ringBytes} bytes behind`),
      at,
    }));
    this.wakeup = new Promise((r) => (this.wake = r));
    this.exited = new Promise((r) => (this.resolveExited = r));
  }

  async *events(): AsyncGenerator<WorkloadEvent> {
    const cursor: RingCursor = { next: 0, offset: 0 };
    for (;;) {
      const e = this.ring.read(cursor);
      if (e) {
        yield e;
        if (e.type === 'exit') return;
      } else {
        await this.wakeup;
      }
    }
  }

  onEvent(listener: (e: WorkloadEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  emit(event: WorkloadEvent): void {
    this.ring.push(event);
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch {
        // A faulty observer must not break the workload's lifecycle or starve other listeners.
      }
    }
    const wake = this.wake;
    this.wakeup = new Promise((r) => (this.wake = r));
    wake();
  }

  /**
   * The end of a workload, once it has stopped and its own timers are cleared: `remove` deletes
   * what it leaves behind (`what`, for the message) before the exit is announced, so anyone who
   * sees 'exit' also sees it gone; a failed removal is added to the exit's message. `onFinished`
   * runs before `exited` resolves, so that `await w.exited; runtime.start(sameLease)` is accepted.
   */
  async finish(
    fields: ExitFields,
    end: { remove: () => Promise<void>; what: string; onFinished: () => void; now: () => number },
  ): Promise<void> {
    let message = fields.message;
    try {
      await end.remove();
    } catch (err) {
      message = `${message ? `${message}; ` : ''}failed to remove ${end.what}: ${errorMessage(err)}`;
    }
    end.onFinished();
    const event: WorkloadExitEvent = {
      type: 'exit',
      ...fields,
      ...(message !== undefined ? { message } : {}),
      at: end.now(),
    };
    this.emit(event);
    this.resolveExited(event);
  }
}

/**
 * A runtime's workloads by lease. A lease is reserved from the moment its start begins until its
 * workload has finished, so two starts of one lease can never overlap (they would share its
 * working directory or container name); starts still in flight are tracked, so that stopAll() also
 * stops what they start.
 */
export class LeaseWorkloads<W extends RunningWorkload> {
  /** Lease ids being started or running. */
  private readonly reserved = new Set<string>();
  private readonly running = new Map<string, W>();
  private readonly pendingStarts = new Set<Promise<unknown>>();

  /** Follows a start until it settles; returns it unchanged. */
  track<T>(start: Promise<T>): Promise<T> {
    // stopAll() must also catch workloads whose start is still in flight.
    this.pendingStarts.add(start);
    const forget = () => this.pendingStarts.delete(start);
    start.then(forget, forget);
    return start;
  }

  /**
   * Claims `leaseId` for a start, or throws if it is already being started or running. Call it
   * before any await, so two concurrent starts of one lease cannot both pass.
   */
  reserve(leaseId: string): void {
    if (this.reserved.has(leaseId)) {
      throw new AethirError('INVALID_ARGUMENT', `lease ${leaseId} already has a running workload`, {
        details: { leaseId },
      });
    }
    this.reserved.add(leaseId);
  }

  isReserved(leaseId: string): boolean {
    return this.reserved.has(leaseId);
  }

  /** The reserved lease now has its workload. */
  add(leaseId: string, workload: W): void {
    this.running.set(leaseId, workload);
  }

  has(leaseId: string): boolean {
    return this.running.has(leaseId);
  }

  /** The lease's workload has finished, or its start failed before it had one: the lease is free again. */
  release(leaseId: string): void {
    this.running.delete(leaseId);
    this.reserved.delete(leaseId);
  }

  /** Waits for the starts in flight, then kills every workload and resolves when all have exited. */
  async stopAll(): Promise<void> {
    await Promise.allSettled([...this.pendingStarts]);
    await Promise.all([...this.running.values()].map((w) => w.kill('runtime stopping')));
  }
}

/**
 * The checks on a spec that every runtime makes, from its shape up to its port; its limits (and,
 * for containers, its image) each runtime checks itself, by what it can enforce. Throws
 * INVALID_ARGUMENT with the lease id, when it has one, in its details.
 */
export function validateWorkloadSpec(spec: WorkloadSpec): void {
  const bad = (message: string): never => invalidSpec(spec, message);
  if (typeof spec !== 'object' || spec === null) bad('workload spec must be an object');
  if (typeof spec.leaseId !== 'string' || !LEASE_ID_RE.test(spec.leaseId)) {
    bad(`invalid leaseId ${JSON.stringify(spec.leaseId)}: expected 1-128 of [A-Za-z0-9_-]`);
  }
  if (!Array.isArray(spec.command) || spec.command.length === 0 || spec.command[0] === '') {
    bad('command must be a non-empty argv array');
  }
  // NUL cannot cross execve(); Node would throw synchronously, so reject it as bad input instead.
  if (!spec.command.every((a) => typeof a === 'string' && !a.includes('\0'))) {
    bad('command arguments must be strings without NUL bytes');
  }
  if (spec.env !== undefined) {
    if (typeof spec.env !== 'object' || spec.env === null || Array.isArray(spec.env))
      bad('env must be an object');
    for (const [k, v] of Object.entries(spec.env)) {
      if (k === '' || k.includes('=') || k.includes('\0')) bad(`invalid env name ${JSON.stringify(k)}`);
      if (typeof v !== 'string' || v.includes('\0')) bad(`env ${k} must be a string without NUL bytes`);
    }
  }
  if (
    !Array.isArray(spec.gpuIndices) ||
    !spec.gpuIndices.every((g) => Number.isSafeInteger(g) && g >= 0) ||
    new Set(spec.gpuIndices).size !== spec.gpuIndices.length
  ) {
    bad('gpuIndices must be distinct non-negative integers');
  }
  if (spec.port !== undefined && !(Number.isInteger(spec.port) && spec.port >= 1 && spec.port <= 65535)) {
    bad(`invalid port ${spec.port}`);
  }
  if (
    spec.workloadPort !== undefined &&
    !(Number.isInteger(spec.workloadPort) && spec.workloadPort >= 1 && spec.workloadPort <= 65535)
  ) {
    bad(`invalid workload port ${spec.workloadPort}: a TCP port is 1 to 65535`);
  }
  if (spec.workloadPort !== undefined && spec.port === undefined) {
    bad('a workload port needs the host port the endpoint reaches it at');
  }
}

/** The error for a spec that fails a check: INVALID_ARGUMENT, with the lease id when it has one. */
export function invalidSpec(spec: WorkloadSpec, message: string): never {
  throw new AethirError('INVALID_ARGUMENT', message, {
    details: { leaseId: typeof spec?.leaseId === 'string' ? spec.leaseId : undefined },
  });
}

/** The stop request of kill(). */
export function killRequest(reason: string | undefined): StopRequest {
  return { reason: 'killed', message: reason ? `killed: ${reason}` : 'killed' };
}

/**
 * Arms the wall-clock limit of `limits`, if it has one, to call `requestStop` when it runs out;
 * returns the cancel function (undefined without a limit).
 */
export function startWallClock(
  limits: WorkloadLimits | undefined,
  requestStop: (request: StopRequest) => void,
): (() => void) | undefined {
  if (limits?.wallSeconds === undefined) return undefined;
  const seconds = limits.wallSeconds;
  return longTimeout(seconds * 1000, () =>
    requestStop({
      reason: 'timeout',
      message: `wall-clock limit of ${seconds}s exceeded`,
      limit: 'wallSeconds',
    }),
  );
}

/**
 * Waits for a stopped workload's output to end (`drained`): output written just before it stopped
 * may still be on its way. Past DRAIN_TIMEOUT_MS, `giveUp` closes the streams, and their end is
 * awaited instead.
 */
export async function drainOutput(drained: Promise<unknown>, giveUp: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    drained.then(() => false),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(true), DRAIN_TIMEOUT_MS))),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    giveUp();
    await drained;
  }
}

/**
 * Feeds every chunk of `stream` to `onData` and resolves once the stream is over, however it ends
 * ('end', 'close' or 'error'), after calling `onEnd` once.
 */
export function consumeStream(
  stream: Readable,
  onData: (chunk: Buffer) => void,
  onEnd: () => void,
): Promise<void> {
  return new Promise((resolve) => {
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      onEnd();
      resolve();
    };
    stream.on('data', onData);
    stream.on('end', end);
    stream.on('close', end);
    stream.on('error', end);
  });
}

/** setTimeout that does not keep the process alive. */
export function unrefTimeout(fn: () => void, ms: number): NodeJS.Timeout {
  const t = setTimeout(fn, ms);
  t.unref();
  return t;
}

/**
 * setTimeout without the ~24.8-day ceiling; returns a cancel function. The workload keeps the agent
 * alive while it runs; the timer alone should not.
 */
export function longTimeout(ms: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout;
  const deadline = Date.now() + ms;
  const arm = (): void => {
    const remaining = deadline - Date.now();
    timer = unrefTimeout(remaining > MAX_TIMER_MS ? arm : fn, Math.min(Math.max(remaining, 0), MAX_TIMER_MS));
  };
  arm();
  return () => clearTimeout(timer);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** How often a measured disk quota (a directory walked, not a filesystem's) is looked at. */
export const DISK_POLL_MS = 500;

/** Bytes of the regular files under `dir` (symlinks not followed); stops counting past `stopAt`. */
export async function dirBytes(dir: string, stopAt: number): Promise<number> {
  let total = 0;
  const stack = [dir];
  while (stack.length && total <= stopAt) {
    const d = stack.pop()!;
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) total += (await lstat(p).catch(() => null))?.size ?? 0;
    }
  }
  return total;
}
