import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ManualClock, SeededRng, sha256 } from '../src/core/index.js';
import {
  challengePrefix,
  freivaldsVectors,
  inlineRecomputer,
  pickGroups,
  pickWorkRows,
  RecomputePool,
  sizeFor,
  type Recomputer,
  DEFAULT_SPOT_ROWS,
  generateRow,
  issueChallenge,
  matrixKeys,
  merkleLevels,
  openRows,
  pickIndices,
  proofFromLevels,
  prove,
  rowLeaf,
  spotCheck,
  type Challenge,
  type OpenedRow,
} from '../src/capacity/index.js';
import { allPairMargins, marginsTable } from '../src/capacity/margins-table.js';
import { nowNs, percentile, row, sink, type BenchOptions, type Row } from './harness.js';

/**
 * Proof of Capacity: what the checker pays against what the prover pays, on one core, both in
 * this run (src/capacity, docs/verification.md).
 *
 * - verify k = 32 opened rows (Freivalds' check: one pass over a regenerated B, O(n²) in all;
 *   and the exact recomputation of each row, O(k·n²)) against proving with the built-in CPU prover
 *   (generate A and B, C = A·B at O(n³), hash C's rows, build the tree);
 * - spot checks per second one checker core runs (parse the rows message + spotCheck) against
 *   proofs per second the same core produces with the CPU prover.
 *
 * Sizes: n = 2048 and 8192 (quick: 512 and 1024); full runs add n = 16384, the size of the GPU
 * classes. Proving n = 8192 with the JS kernel takes minutes (5.5·10^11 multiply-adds at ~1.5·10^9/s),
 * so the full run extrapolates its proof cost from n = 2048 by n³ and says so in the row's name
 * (--million proves n = 8192 for real). Where the proof is extrapolated, the checker still verifies
 * real rows: the k opened rows are computed exactly and the other n - k leaves of the tree are
 * placeholders, which the checker cannot tell apart (it only sees the k rows and their proofs).
 */

const SUITE = 'capacity';

function ms(t0: bigint): number {
  return Number(nowNs() - t0) / 1e6;
}

/** Rows `indices` of A·B, exactly (one pass over B), and a tree whose other leaves are placeholders. */
function partialProof(ch: Challenge, indices: number[]): { root: string; rows: OpenedRow[] } {
  const { n } = ch;
  const keys = matrixKeys(ch.seed);
  const a = indices.map((i) => {
    const r = new Float64Array(n);
    generateRow(keys.a, n, i, r);
    return r;
  });
  const acc = indices.map(() => new Float64Array(n));
  const b = new Float64Array(n);
  for (let l = 0; l < n; l++) {
    generateRow(keys.b, n, l, b);
    for (let r = 0; r < indices.length; r++) {
      const x = a[r]![l]!;
      const out = acc[r]!;
      for (let j = 0; j < n; j++) out[j] = out[j]! + x * b[j]!;
    }
  }
  const prefix = challengePrefix(ch);
  const real = new Map(indices.map((i, r) => [i, Int32Array.from(acc[r]!)]));
  const leaves = Array.from({ length: n }, (_, i) => {
    const c = real.get(i);
    return c ? rowLeaf(prefix, i, c) : sha256(`placeholder ${i}`);
  });
  const levels = merkleLevels(leaves);
  return {
    root: levels[levels.length - 1]![0]!.toString('hex'),
    rows: indices.map((i) => ({
      index: i,
      row: Array.from(real.get(i)!),
      proof: proofFromLevels(levels, i),
    })),
  };
}

export async function runCapacity(opts: BenchOptions): Promise<Row[]> {
  const sizes = opts.quick ? [512, 1024] : [2048, 8192, 16_384];
  const k = DEFAULT_SPOT_ROWS;
  const reps = opts.quick ? 3 : 5;
  const out: Row[] = [];
  let measured: { n: number; proveMs: number } | null = null;

  for (const n of sizes) {
    const rng = new SeededRng(`capacity-bench:${n}`);
    const ch = issueChallenge(rng, new ManualClock(), { n, deadlineMs: 1 });
    const indices = pickIndices(rng, n, k);
    const realProof = opts.quick || n <= 2048 || (n === 8192 && opts.million === true);
    let proveMs: number;
    let root: string;
    let rows: OpenedRow[];
    let label: string;
    if (realProof || !measured) {
      opts.log(`capacity: n = ${n}: proving with the CPU prover (${(2 * n ** 3).toExponential(1)} ops)`);
      const t0 = nowNs();
      const p = prove(ch);
      proveMs = ms(t0);
      measured = { n, proveMs };
      root = p.root;
      rows = openRows(p, indices);
      label = `n = ${n}`;
      opts.log(`capacity: n = ${n}: proved in ${(proveMs / 1000).toFixed(2)} s`);
    } else {
      proveMs = measured.proveMs * (n / measured.n) ** 3;
      opts.log(
        `capacity: n = ${n}: proof cost extrapolated from n = ${measured.n}: ${(proveMs / 1000).toFixed(0)} s; ` +
          `computing the ${k} opened rows exactly`,
      );
      ({ root, rows } = partialProof(ch, indices));
      label = `n = ${n} (prove cost extrapolated by n³ from n = ${measured.n})`;
    }

    // Freivalds (the default check), repeated: fresh vectors each time; one untimed call first (JIT)
    sink(spotCheck(ch, { root }, rows, { indices, rng }));
    const freivalds: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = nowNs();
      const res = spotCheck(ch, { root }, rows, { indices, rng });
      freivalds.push(ms(t0));
      if (!res.ok) throw new Error(`capacity bench: the honest proof failed: ${res.reason}`);
    }
    const exact: number[] = [];
    for (let r = 0; r < (opts.quick ? 2 : 1); r++) {
      const t0 = nowNs();
      const res = spotCheck(ch, { root }, rows, { indices, exact: true });
      exact.push(ms(t0));
      if (!res.ok) throw new Error(`capacity bench: the honest proof failed: ${res.reason}`);
    }
    // a whole check as the checker sees it: parse the rows message, then spotCheck
    const message = JSON.stringify({ type: 'rows', rows });
    const whole: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = nowNs();
      const parsed = JSON.parse(message) as { rows: OpenedRow[] };
      sink(spotCheck(ch, { root }, parsed.rows, { indices, rng }));
      whole.push(ms(t0));
    }
    const fMs = percentile(freivalds, 50);
    const eMs = percentile(exact, 50);
    const wMs = percentile(whole, 50);
    opts.log(
      `capacity: ${label}: verify ${fMs.toFixed(1)} ms (Freivalds), ${eMs.toFixed(1)} ms (exact); ` +
        `${((100 * fMs) / proveMs).toFixed(3)}% and ${((100 * eMs) / proveMs).toFixed(3)}% of the proof; ` +
        `one core checks ${Math.floor(900_000 / wMs).toLocaleString('en-US')} containers per 15-minute epoch`,
    );
    out.push(
      row({
        suite: SUITE,
        name: `verify ${k} rows (Freivalds, O(n²)) vs prove, ${label}`,
        value: fMs,
        unit: 'ms',
        baseline: proveMs,
        baselineName: 'proving with the CPU prover (O(n³))',
        better: 'lower',
      }),
      row({
        suite: SUITE,
        name: `verify ${k} rows (exact, O(k·n²)) vs prove, ${label}`,
        value: eMs,
        unit: 'ms',
        baseline: proveMs,
        baselineName: 'proving with the CPU prover (O(n³))',
        better: 'lower',
      }),
      row({
        suite: SUITE,
        name: `spot checks/s on one core (parse + Freivalds) vs proofs/s, ${label}`,
        value: 1000 / wMs,
        unit: '/s',
        baseline: 1000 / proveMs,
        baselineName: 'proofs/s of the CPU prover on the same core',
        better: 'higher',
      }),
    );
  }
  out.push(...(await eventLoopDuringVerification(opts)));
  out.push(...classMargins(opts));
  return out;
}

/**
 * The throughput proof's class-pair margins (docs/verification.md, "Class margins"): MODELED from
 * Epoch's table and the stated stock-prover shares, not measured — no GPU here. value: the lower
 * part's best time for the claimed class's products (INT8 at 105% of its datasheet peak); baseline:
 * the claimed class's deadline; ratio (higher is better) = the margin, > 1: the lower part misses it.
 */
function classMargins(opts: BenchOptions): Row[] {
  opts.log('capacity: class-pair margins, modeled from the table (no GPU measured):');
  for (const line of marginsTable().split('\n')) opts.log(line);
  return allPairMargins().map((p) =>
    row({
      suite: SUITE,
      name: `throughput proof, ${p.below} claiming ${p.claimed} (MODELED from Epoch's table: published INT8 ratio ${p.ratios.int8.toFixed(2)}, stock prover at ${Math.round(p.work.stockShare * 100)}% of the ${p.claimed} peak)`,
      value: p.work.belowBestMs,
      unit: 'ms',
      baseline: p.work.deadlineMs,
      baselineName: `the ${p.claimed} claim's deadline (${p.work.products} products, +100 ms jitter, +100 ms host)`,
      better: 'higher',
    }),
  );
}

/**
 * The checker's event loop while it recomputes the compute proof's Freivalds products, the opened
 * rows of a throughput proof and the groups of a memory proof (an H100 claim's parameters from
 * sizeFor; quick: n = 4096 and a smaller read), inline (the baseline: what runCapacityCheck did
 * before) and in a RecomputePool's worker thread, same run: the max delay of monitorEventLoopDelay
 * (resolution 5 ms) while it runs, and the ticks a 10 ms interval got. The worker is started
 * before (its start-up is not counted).
 */
async function eventLoopDuringVerification(opts: BenchOptions): Promise<Row[]> {
  const size = sizeFor({ model: 'NVIDIA H100 80GB HBM3', memoryMiB: 81_559 });
  const wp = opts.quick ? { ...size.workProof!, n: 4096 } : size.workProof!;
  const mp = opts.quick ? { ...size.memoryProof!, depth: 4096 } : size.memoryProof!;
  const rng = new SeededRng('capacity-bench:event-loop');
  const seeds = { p: '5a'.repeat(32), w: 'a5'.repeat(32) };
  const { rows } = pickWorkRows(rng, wp, 16);
  const { groups } = pickGroups(rng, mp.groups, 16);
  const cn = opts.quick ? 4096 : size.n;
  const vs = freivaldsVectors(rng, cn);
  const pool = new RecomputePool();
  const out: Row[] = [];
  try {
    await pool.workDigests(seeds.p, seeds.w, { n: 64, pool: 1, products: 1 }, [0]);
    const measure = async (r: Recomputer, job: 'freivalds' | 'work' | 'memory') => {
      const h = monitorEventLoopDelay({ resolution: 5 });
      h.enable();
      await new Promise((res) => setTimeout(res, 30)); // the histogram's first sample starts its clock
      let ticks = 0;
      const tick = setInterval(() => ticks++, 10);
      const t0 = nowNs();
      const done =
        job === 'freivalds'
          ? r.freivalds(seeds.p, cn, vs)
          : job === 'work'
            ? r.workDigests(seeds.p, seeds.w, wp, rows)
            : r.groupSums(seeds.p, seeds.w, mp, groups);
      sink(await done);
      const wall = ms(t0);
      await new Promise((res) => setTimeout(res, 30)); // the loop's last turn is sampled
      clearInterval(tick);
      h.disable();
      return { wall, maxMs: h.max / 1e6, ticks };
    };
    for (const job of ['freivalds', 'work', 'memory'] as const) {
      const what =
        job === 'freivalds'
          ? `the compute proof's Freivalds products (n = ${cn}, 4 vectors)`
          : job === 'work'
            ? `16 rows of the throughput proof (n = ${wp.n}, pool ${wp.pool})`
            : `16 groups of the memory proof (m = ${mp.m}, depth ${mp.depth}, ${mp.perGroup} words)`;
      opts.log(`capacity: event loop while recomputing ${what}: inline, then in a worker thread`);
      const inline = await measure(inlineRecomputer, job);
      const worker = await measure(pool, job);
      opts.log(
        `capacity: ${what}: inline ${(inline.wall / 1000).toFixed(2)} s, event-loop max delay ${inline.maxMs.toFixed(1)} ms, ` +
          `${inline.ticks} ticks of a 10 ms interval; worker ${(worker.wall / 1000).toFixed(2)} s, max delay ` +
          `${worker.maxMs.toFixed(1)} ms, ${worker.ticks} ticks`,
      );
      out.push(
        row({
          suite: SUITE,
          name: `checker event-loop max delay while recomputing ${what}: worker thread vs inline`,
          value: worker.maxMs,
          unit: 'ms',
          baseline: inline.maxMs,
          baselineName: 'the same recomputation inline on the event loop',
          better: 'lower',
        }),
        row({
          suite: SUITE,
          name: `wall time of recomputing ${what}: worker thread vs inline`,
          value: worker.wall,
          unit: 'ms',
          baseline: inline.wall,
          baselineName: 'the same recomputation inline on the event loop',
          better: 'lower',
        }),
      );
    }
  } finally {
    await pool.close();
  }
  return out;
}
