/**
 * A small benchmark harness: warmup, time-boxed loops, interleaved rounds and percentiles.
 *
 * Every figure is printed next to a baseline measured in the same run, on the same machine,
 * so the ratio means something even where the absolute numbers drift between machines.
 * `ratio` is always "times better than the baseline": value/baseline for throughputs,
 * baseline/value for costs (ms, µs). Above 1 the measured code wins, below 1 it costs more.
 */

export interface BenchOptions {
  /** a smoke run: short time boxes, few iterations */
  quick: boolean;
  /** run the long variants at full size (e.g. replaying 1 million transactions) */
  million?: boolean;
  /** progress lines (to stderr), never part of the results */
  log: (line: string) => void;
}

export type Better = 'higher' | 'lower';

export interface Row {
  suite: string;
  name: string;
  value: number;
  unit: string;
  /** the same figure for the baseline, measured in the same run */
  baseline: number;
  /** times better than the baseline (see the module comment) */
  ratio: number;
  /** what the baseline is */
  baselineName: string;
  better: Better;
}

export function row(r: Omit<Row, 'ratio'>): Row {
  const { suite, name, value, unit, baseline, baselineName, better } = r;
  return {
    suite,
    name,
    value,
    unit,
    baseline,
    ratio: ratioOf(value, baseline, better),
    baselineName,
    better,
  };
}

export function ratioOf(value: number, baseline: number, better: Better): number {
  if (!(value > 0) || !(baseline > 0)) return Number.NaN;
  return better === 'higher' ? value / baseline : baseline / value;
}

export function nowNs(): bigint {
  return process.hrtime.bigint();
}

export interface LoopOptions {
  /** time spent running fn before measuring (JIT, caches) */
  warmupMs: number;
  /** the timed loop stops after this long... */
  durationMs: number;
  /** ...but never before this many iterations */
  minIters?: number;
  /** and never after this many (e.g. a pool of pre-built inputs) */
  maxIters?: number;
  /** the index the first call (warmup included) receives; default 0 */
  startIndex?: number;
}

export interface LoopResult {
  /** timed iterations */
  iters: number;
  /** their total duration */
  ns: number;
  /** the index the next call should receive (warmup calls count) */
  nextIndex: number;
}

/** ops per second of a loop result */
export function opsPerSec(r: LoopResult): number {
  return r.ns > 0 ? (r.iters * 1e9) / r.ns : Number.NaN;
}

/** milliseconds per operation of a loop result */
export function msPerOp(r: LoopResult): number {
  return r.iters > 0 ? r.ns / 1e6 / r.iters : Number.NaN;
}

/**
 * Runs fn(i) for warmupMs (untimed), then repeatedly for durationMs, and returns how many
 * iterations ran and how long they took. Meant for operations of a microsecond or more:
 * the clock is read once per iteration.
 */
export function timeLoop(fn: (i: number) => void, opts: LoopOptions): LoopResult {
  const maxIters = opts.maxIters ?? Number.POSITIVE_INFINITY;
  const minIters = Math.min(opts.minIters ?? 1, maxIters);
  let i = opts.startIndex ?? 0;
  if (opts.warmupMs > 0) {
    const warmEnd = nowNs() + BigInt(Math.round(opts.warmupMs * 1e6));
    while (nowNs() < warmEnd) fn(i++);
  }
  const start = nowNs();
  const stop = start + BigInt(Math.round(opts.durationMs * 1e6));
  let n = 0;
  let t = start;
  while (n < maxIters && (n < minIters || t < stop)) {
    fn(i++);
    n++;
    t = nowNs();
  }
  return { iters: n, ns: Number(t - start), nextIndex: i };
}

/**
 * Like timeLoop, but records the duration of every call (in microseconds) for percentiles.
 * Returns the samples unsorted, in call order.
 */
export interface SampleResult {
  /** per-call durations in microseconds, in call order */
  samplesUs: number[];
  /** total duration of the timed calls */
  ns: number;
  nextIndex: number;
}

export function sampleLoop(fn: (i: number) => void, opts: LoopOptions): SampleResult {
  const maxIters = opts.maxIters ?? Number.POSITIVE_INFINITY;
  const minIters = Math.min(opts.minIters ?? 1, maxIters);
  let i = opts.startIndex ?? 0;
  if (opts.warmupMs > 0) {
    const warmEnd = nowNs() + BigInt(Math.round(opts.warmupMs * 1e6));
    while (nowNs() < warmEnd) fn(i++);
  }
  const samplesUs: number[] = [];
  const start = performance.now();
  const stop = start + opts.durationMs;
  let t = start;
  while (samplesUs.length < maxIters && (samplesUs.length < minIters || t < stop)) {
    const t0 = performance.now();
    fn(i++);
    t = performance.now();
    samplesUs.push((t - t0) * 1000);
  }
  return { samplesUs, ns: (t - start) * 1e6, nextIndex: i };
}

/**
 * Measures several variants in alternating rounds (A B A B ...) so that drift in the machine
 * (frequency scaling, a noisy neighbour, GC pressure) hits every variant alike. Each variant
 * is warmed up once, before its first round; the rounds' results are merged. Time box,
 * minIters and maxIters are totals, split evenly over the rounds; each variant's indices
 * continue from round to round (so a variant can consume a pool of inputs in order).
 */
export function interleaved<K extends string>(
  rounds: number,
  variants: Record<K, (i: number) => void>,
  opts: LoopOptions,
): Record<K, LoopResult> {
  const names = Object.keys(variants) as K[];
  const out = {} as Record<K, LoopResult>;
  for (const k of names) out[k] = { iters: 0, ns: 0, nextIndex: opts.startIndex ?? 0 };
  for (let r = 0; r < rounds; r++) {
    for (const k of names) {
      const res = timeLoop(variants[k], {
        warmupMs: r === 0 ? opts.warmupMs : 0,
        durationMs: opts.durationMs / rounds,
        minIters: Math.ceil((opts.minIters ?? 1) / rounds),
        ...(opts.maxIters !== undefined ? { maxIters: Math.max(1, Math.floor(opts.maxIters / rounds)) } : {}),
        startIndex: out[k].nextIndex,
      });
      out[k] = { iters: out[k].iters + res.iters, ns: out[k].ns + res.ns, nextIndex: res.nextIndex };
    }
  }
  return out;
}

/** Nearest-rank percentile (p in 0..100) of a sample; sorts a copy. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Keeps a value alive so the optimiser cannot drop the work that produced it. */
let sinkValue: unknown;
export function sink(v: unknown): void {
  sinkValue = v;
}
export function sunk(): unknown {
  return sinkValue;
}

/** interleaved() for per-call samples: alternating rounds, samples concatenated. */
export function interleavedSamples<K extends string>(
  rounds: number,
  variants: Record<K, (i: number) => void>,
  opts: LoopOptions,
): Record<K, SampleResult> {
  const names = Object.keys(variants) as K[];
  const out = {} as Record<K, SampleResult>;
  for (const k of names) out[k] = { samplesUs: [], ns: 0, nextIndex: opts.startIndex ?? 0 };
  for (let r = 0; r < rounds; r++) {
    for (const k of names) {
      const res = sampleLoop(variants[k], {
        warmupMs: r === 0 ? opts.warmupMs : 0,
        durationMs: opts.durationMs / rounds,
        minIters: Math.ceil((opts.minIters ?? 1) / rounds),
        ...(opts.maxIters !== undefined ? { maxIters: Math.max(1, Math.floor(opts.maxIters / rounds)) } : {}),
        startIndex: out[k].nextIndex,
      });
      const prev = out[k];
      for (const v of res.samplesUs) prev.samplesUs.push(v);
      out[k] = { samplesUs: prev.samplesUs, ns: prev.ns + res.ns, nextIndex: res.nextIndex };
    }
  }
  return out;
}
