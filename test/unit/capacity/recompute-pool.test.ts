import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, SeededRng } from '../../../src/core/index.js';
import {
  challengePrefix,
  CpuProverSession,
  freivaldsVectors,
  handlerChannel,
  issueChallenge,
  merkleLevels,
  openRows,
  pickIndices,
  proofFromLevels,
  prove,
  rowLeaf,
  spotCheck,
  spotCheckWith,
  inlineRecomputer,
  RecomputeError,
  RecomputePool,
  runCapacityCheck,
  verifyReadsWith,
  verifyWorkWith,
  type Recomputer,
} from '../../../src/capacity/index.js';
import {
  answerWork,
  DIGEST_WIDTH,
  openWork,
  pickWorkRows,
  preparePool,
  type WorkProofParams,
} from '../../../src/capacity/work.js';
import {
  answerRead,
  fillMemory,
  openSums,
  pickGroups,
  type MemoryProofParams,
} from '../../../src/capacity/memory.js';

const CRASHING = new URL('./fixtures/crashing-recompute-worker.mjs', import.meta.url);
const EXIT_SEED = 'de'.repeat(32);
const THROW_SEED = 'ad'.repeat(32);
const SEED_P = '33'.repeat(32);
const SEED_W = '44'.repeat(32);
const P = { n: 128, pool: 3, products: 4 };
const MEM: MemoryProofParams = {
  tiles: 6,
  m: 64,
  depth: 128,
  groups: 600,
  perGroup: 16,
  fillDeadlineMs: 60_000,
  readDeadlineMs: 60_000,
};

const pools: RecomputePool[] = [];
const pool = (opts?: ConstructorParameters<typeof RecomputePool>[0]) => {
  const p = new RecomputePool(opts);
  pools.push(p);
  return p;
};
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

const bytes = (a: Int32Array | Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('RecomputePool: the same answers as inline', () => {
  it('throughput rows: the worker digests equal inline ones and those the honest prover committed', async () => {
    const pl = pool();
    const ans = answerWork(preparePool(SEED_P, P), 'id', SEED_W);
    const rng = new SeededRng('recompute-rows');
    for (let t = 0; t < 4; t++) {
      const { rows } = pickWorkRows(rng, P, 16);
      const inWorker = await pl.workDigests(SEED_P, SEED_W, P, rows);
      const inline = await inlineRecomputer.workDigests(SEED_P, SEED_W, P, rows);
      expect(bytes(inWorker).equals(bytes(inline))).toBe(true);
      rows.forEach((g, k) =>
        expect(Array.from(inWorker.subarray(k * DIGEST_WIDTH, (k + 1) * DIGEST_WIDTH))).toEqual(
          Array.from(ans.digests.subarray(g * DIGEST_WIDTH, (g + 1) * DIGEST_WIDTH)),
        ),
      );
    }
    expect(pl.threads).toBe(1);
  });

  it('memory groups: the worker sums equal inline ones and those the honest prover read', async () => {
    const pl = pool();
    const readSeed = '22'.repeat(32);
    const mem = fillMemory('11'.repeat(32), MEM);
    const ans = answerRead(mem, 'id', readSeed, MEM);
    const { groups } = pickGroups(new SeededRng('recompute-groups'), MEM.groups, 32);
    const inWorker = await pl.groupSums('11'.repeat(32), readSeed, MEM, groups);
    const inline = await inlineRecomputer.groupSums('11'.repeat(32), readSeed, MEM, groups);
    expect(bytes(inWorker).equals(bytes(inline))).toBe(true);
    expect(Array.from(inWorker)).toEqual(groups.map((g) => ans.sums[g]));
  });

  it('verifyWorkWith / verifyReadsWith through the pool: honest openings pass, a wrong digest or sum fails', async () => {
    const pl = pool();
    const ans = answerWork(preparePool(SEED_P, P), 'id', SEED_W);
    const picked = pickWorkRows(new SeededRng('vw'), P, 16);
    const opened = openWork(ans, picked.leaves);
    expect(await verifyWorkWith(pl, 'id', SEED_P, SEED_W, P, ans.root, opened, picked)).toEqual({
      ok: true,
      rows: 16,
    });
    // a prover that skipped rows commits zeros for them: the worker's digests catch it
    const lazy = answerWork(preparePool(SEED_P, P), 'id', SEED_W, (g) => !picked.rows.includes(g));
    expect(
      await verifyWorkWith(pl, 'id', SEED_P, SEED_W, P, lazy.root, openWork(lazy, picked.leaves), picked),
    ).toMatchObject({ ok: false, reason: expect.stringMatching(/digest is not that/) });

    const mem = fillMemory('11'.repeat(32), MEM);
    const read = answerRead(mem, 'id', '22'.repeat(32), MEM);
    const pg = pickGroups(new SeededRng('vr'), MEM.groups, 16);
    const sums = openSums(read, pg.leaves);
    expect(
      await verifyReadsWith(pl, 'id', '11'.repeat(32), '22'.repeat(32), MEM, read.root, sums, pg),
    ).toEqual({ ok: true, groups: 16 });
    // a prover that held another fill answers consistent sums under its own root: wrong sums
    const other = answerRead(fillMemory('99'.repeat(32), MEM), 'id', '22'.repeat(32), MEM);
    const forged = { ...other, root: other.root };
    const otherRoot = await verifyReadsWith(
      pl,
      'id',
      '11'.repeat(32),
      '22'.repeat(32),
      MEM,
      forged.root,
      openSums(forged, pg.leaves),
      pg,
    );
    expect(otherRoot.ok).toBe(false);
  });

  it('a malformed opening is refused on the main thread, before any recomputation', async () => {
    const calls: string[] = [];
    const spy: Recomputer = {
      freivalds: (...a) => (calls.push('freivalds'), inlineRecomputer.freivalds(...a)),
      productRows: (...a) => (calls.push('rows'), inlineRecomputer.productRows(...a)),
      workDigests: (...a) => (calls.push('work'), inlineRecomputer.workDigests(...a)),
      groupSums: (...a) => (calls.push('memory'), inlineRecomputer.groupSums(...a)),
    };
    const ans = answerWork(preparePool(SEED_P, P), 'id', SEED_W);
    const picked = pickWorkRows(new SeededRng('malformed'), P, 4);
    const opened = openWork(ans, picked.leaves);
    for (const bad of [
      'x',
      [],
      opened.map((o) => ({ ...o, row: o.row.slice(1) })),
      opened.map((o) => ({ ...o, row: o.row.map(() => 2 ** 40) })),
      opened.map((o) => ({ ...o, proof: [] })),
      opened.map((o) => ({ ...o, row: o.row.map((v) => v + 1) })),
    ])
      expect((await verifyWorkWith(spy, 'id', SEED_P, SEED_W, P, ans.root, bad as never, picked)).ok).toBe(
        false,
      );
    expect(await verifyWorkWith(spy, 'id', SEED_P, SEED_W, P, 'zz', opened, picked)).toMatchObject({
      ok: false,
    });
    expect(calls).toEqual([]);
  });
});

describe('RecomputePool: the compute proof', () => {
  const rng = new SeededRng('compute');
  const ch = issueChallenge(rng, new ManualClock(), { n: 128, deadlineMs: 1_000 });
  const proof = prove(ch);
  const indices = pickIndices(rng, 128, 16);

  it('Freivalds products and exact rows: the worker equals inline and the prover', async () => {
    const pl = pool();
    const vs = freivaldsVectors(new SeededRng('vs'), 128);
    const inWorker = await pl.freivalds(ch.seed, 128, vs);
    const inline = await inlineRecomputer.freivalds(ch.seed, 128, vs);
    expect(inWorker.map(bytes).every((b, t) => b.equals(bytes(inline[t]!)))).toBe(true);
    const rows = await pl.productRows(ch.seed, 128, indices);
    rows.forEach((r, k) =>
      expect(Array.from(r)).toEqual(Array.from(proof.c.subarray(indices[k]! * 128, (indices[k]! + 1) * 128))),
    );
  });

  it('spotCheckWith through the pool gives what spotCheck gives, with the same draws of the rng', async () => {
    const pl = pool();
    // a prover that commits to a wrong row (consistently: its tree is over the wrong row)
    const bad = Int32Array.from(proof.c);
    bad[indices[3]! * 128 + 5]! += 1;
    const prefix = challengePrefix(ch);
    const row = (i: number) => bad.subarray(i * 128, (i + 1) * 128);
    const levels = merkleLevels(Array.from({ length: 128 }, (_, i) => rowLeaf(prefix, i, row(i))));
    const lyingRoot = levels[levels.length - 1]![0]!.toString('hex');
    const lying = indices.map((i) => ({
      index: i,
      row: Array.from(row(i)),
      proof: proofFromLevels(levels, i),
    }));
    for (const exact of [false, true])
      for (const [root, rows] of [
        [proof.root, openRows(proof, indices)],
        [lyingRoot, lying],
      ] as const) {
        const [r1, r2] = [new SeededRng('draws'), new SeededRng('draws')];
        const want = spotCheck(ch, { root }, rows, { indices, rng: r1, exact });
        const got = await spotCheckWith(pl, ch, { root }, rows, { indices, rng: r2, exact });
        expect(got).toEqual(want);
        expect(got.ok).toBe(root === proof.root);
        if (!got.ok) expect(got).toMatchObject({ kind: 'row', index: indices[3] });
        expect(r2.nextU32()).toBe(r1.nextU32());
      }
  });
});

describe('RecomputePool: the event loop stays free while it verifies', () => {
  it('a timer scheduled during a large verification fires before the verification ends', async () => {
    const pl = pool();
    // large: 16 rows of n = 4096 from 2 pool matrices: 2·n² generated entries and 16·n² multiply-adds
    const big = { n: 4096, pool: 2, products: 2 };
    const { rows } = pickWorkRows(new SeededRng('big'), big, 16);
    await pl.workDigests(SEED_P, SEED_W, { n: 64, pool: 1, products: 1 }, [0]); // the worker has started

    const measure = async (run: () => Promise<Int32Array>) => {
      const h = monitorEventLoopDelay({ resolution: 5 });
      h.enable();
      await new Promise((r) => setTimeout(r, 20)); // the histogram's first sample only starts its clock
      let ticks = 0;
      const tick = setInterval(() => ticks++, 10);
      let firedAt = 0;
      let doneAt = 0;
      let seq = 0;
      // the timer is scheduled first: inline, the computation then holds the loop until it ends
      setTimeout(() => (firedAt = ++seq), 1);
      const t0 = performance.now();
      const job = run().then((d) => ((doneAt = ++seq), d));
      const digests = await job;
      const ms = performance.now() - t0;
      await new Promise((r) => setTimeout(r, 20)); // the histogram samples the last turn of the loop
      clearInterval(tick);
      h.disable();
      return { digests, firedAt, doneAt, ms, maxDelayMs: h.max / 1e6, ticks };
    };
    const worker = await measure(() => pl.workDigests(SEED_P, SEED_W, big, rows));
    const inline = await measure(async () => inlineRecomputer.workDigests(SEED_P, SEED_W, big, rows));
    console.log(
      `verification of 16 rows of n = 4096: in the worker ${worker.ms.toFixed(0)} ms, event-loop max delay ` +
        `${worker.maxDelayMs.toFixed(1)} ms, ${worker.ticks} ticks of a 10 ms interval; inline ${inline.ms.toFixed(0)} ms, ` +
        `max delay ${inline.maxDelayMs.toFixed(1)} ms, ${inline.ticks} ticks`,
    );
    expect(bytes(worker.digests).equals(bytes(inline.digests))).toBe(true);
    // in the worker the timer fires first; inline (the baseline) it cannot fire until the end
    expect(worker).toMatchObject({ firedAt: 1, doneAt: 2 });
    expect(inline).toMatchObject({ firedAt: 2, doneAt: 1 });
  });
});

describe("RecomputePool: failures are the checker's, and it recovers", () => {
  it('a worker that exits or throws fails its job with a RecomputeError; the next job gets a new worker', async () => {
    const pl = pool({ script: CRASHING });
    const rows = [0, 5, 300];
    const want = await inlineRecomputer.workDigests(SEED_P, SEED_W, P, rows);
    expect(bytes(await pl.workDigests(SEED_P, SEED_W, P, rows)).equals(bytes(want))).toBe(true);

    const exited = await pl.workDigests(EXIT_SEED, SEED_W, P, rows).catch((e: unknown) => e);
    expect(exited).toBeInstanceOf(RecomputeError);
    expect(exited).toMatchObject({ kind: 'crashed', message: expect.stringMatching(/exited with code 7/) });
    expect(bytes(await pl.workDigests(SEED_P, SEED_W, P, rows)).equals(bytes(want))).toBe(true);

    const threw = await pl.groupSums(THROW_SEED, '22'.repeat(32), MEM, [1, 2]).catch((e: unknown) => e);
    expect(threw).toMatchObject({
      kind: 'crashed',
      message: expect.stringMatching(/boom in the verification worker/),
    });
    expect(bytes(await pl.workDigests(SEED_P, SEED_W, P, rows)).equals(bytes(want))).toBe(true);
    expect(pl.threads).toBe(1);
  });

  it('a job queued behind one that crashes runs on the replacement worker', async () => {
    const pl = pool({ script: CRASHING });
    const rows = [7, 9];
    const crash = pl.workDigests(EXIT_SEED, SEED_W, P, rows).catch((e: unknown) => e);
    const after = pl.workDigests(SEED_P, SEED_W, P, rows);
    expect(await crash).toMatchObject({ kind: 'crashed' });
    expect(
      bytes(await after).equals(bytes(await inlineRecomputer.workDigests(SEED_P, SEED_W, P, rows))),
    ).toBe(true);
  });

  it('a worker that never answers fails its job as "timeout" and is replaced', async () => {
    // (the timeout counts the worker's start-up too: tsx in a checkout takes about a second here)
    const pl = pool({ script: CRASHING, jobTimeoutMs: 5_000 });
    await expect(pl.workDigests('ee'.repeat(32), SEED_W, P, [1])).rejects.toMatchObject({
      kind: 'timeout',
      message: expect.stringMatching(/took longer than 5000 ms/),
    });
    expect((await pl.workDigests(SEED_P, SEED_W, P, [1])).length).toBe(DIGEST_WIDTH);
  });

  it('a computation that throws (bad parameters) fails as "failed" and keeps the worker', async () => {
    const pl = pool();
    await expect(pl.workDigests(SEED_P, SEED_W, { n: 100, pool: 1, products: 1 }, [0])).rejects.toMatchObject(
      {
        kind: 'failed',
        message: expect.stringMatching(/multiple of 64/),
      },
    );
    expect(pl.threads).toBe(1);
    expect((await pl.workDigests(SEED_P, SEED_W, P, [3])).length).toBe(DIGEST_WIDTH);
  });

  it('the queue is bounded: past size + maxQueue a job fails at once as "busy"', async () => {
    const pl = pool({ size: 1, maxQueue: 1 });
    const a = pl.workDigests(SEED_P, SEED_W, P, [1]);
    const b = pl.workDigests(SEED_P, SEED_W, P, [2]);
    await expect(pl.workDigests(SEED_P, SEED_W, P, [3])).rejects.toMatchObject({ kind: 'busy' });
    expect(pl.pending).toBe(2);
    expect((await a).length + (await b).length).toBe(2 * DIGEST_WIDTH);
    expect(pl.pending).toBe(0);
    expect(() => new RecomputePool({ size: 0 })).toThrow(RangeError);
    expect(() => new RecomputePool({ maxQueue: -1 })).toThrow(RangeError);
  });

  it('close() fails pending jobs as "closed", terminates every worker, and refuses later jobs', async () => {
    const pl = pool({ size: 2 });
    await Promise.all([pl.workDigests(SEED_P, SEED_W, P, [1]), pl.workDigests(SEED_P, SEED_W, P, [2])]);
    expect(pl.threads).toBe(2);
    const running = pl
      .workDigests(SEED_P, SEED_W, { n: 2048, pool: 1, products: 1 }, [1, 2, 3])
      .catch((e) => e);
    await pl.close();
    expect(await running).toMatchObject({ kind: 'closed' });
    expect(pl.threads).toBe(0);
    await expect(pl.workDigests(SEED_P, SEED_W, P, [1])).rejects.toMatchObject({ kind: 'closed' });
  });

  it('runCapacityCheck: a worker that crashes fails the check as "checker", not as the prover\'s fault', async () => {
    const crashing = pool({ script: CRASHING });
    // every recomputation of this checker lands on the seed its worker dies on
    const broken: Recomputer = {
      freivalds: (s, n, v) => crashing.freivalds(s, n, v),
      productRows: (s, n, i) => crashing.productRows(s, n, i),
      workDigests: (_p, w, p, rows) => crashing.workDigests(EXIT_SEED, w, p, rows),
      groupSums: (_f, r, p, groups) => crashing.groupSums(EXIT_SEED, r, p, groups),
    };
    const WP: WorkProofParams = { ...P, deadlineMs: 60_000, prepareTimeoutMs: 60_000 };
    const check = (recompute: Recomputer, memoryProof: MemoryProofParams | null) => {
      const session = new CpuProverSession({ clock: new ManualClock() });
      return runCapacityCheck({
        prover: handlerChannel(session.ready(), (m) => session.handle(m)),
        claim: {},
        n: 64,
        deadlineMs: 60_000,
        memoryMiB: null,
        workProof: memoryProof ? null : WP,
        memoryProof,
        recompute,
        rng: new SeededRng('crash-check'),
        clock: new ManualClock(),
      });
    };
    const work = await check(broken, null);
    expect(work).toMatchObject({
      ok: false,
      code: 'checker',
      reason: expect.stringMatching(/checker could not verify the throughput proof: .*exited with code 7/),
    });
    const spot = await check(
      { ...broken, freivalds: (_s, n, v) => crashing.freivalds(EXIT_SEED, n, v) },
      null,
    );
    expect(spot).toMatchObject({
      ok: false,
      code: 'checker',
      reason: expect.stringMatching(/could not verify the opened rows: .*exited with code 7/),
    });
    const memory = await check(broken, MEM);
    expect(memory).toMatchObject({
      ok: false,
      code: 'checker',
      reason: expect.stringMatching(/memory proof/),
    });
    // the same pool, with the checker's own seeds: it recovered
    const ok: Recomputer = crashing;
    expect(await check(ok, null)).toMatchObject({ ok: true, code: 'passed' });
    expect(await check(ok, MEM)).toMatchObject({ ok: true, code: 'passed' });
  });
});

describe('RecomputePool: no thread outlives its process', () => {
  const script = fileURLToPath(new URL('./fixtures/pool-exit.ts', import.meta.url));
  const runChild = (mode: string) =>
    new Promise<{ code: number | null; out: string; ms: number }>((resolve, reject) => {
      const t0 = Date.now();
      const child = spawn(process.execPath, ['--import', 'tsx', script, mode], {
        cwd: fileURLToPath(new URL('../../..', import.meta.url)),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.on('error', reject);
      child.on('exit', (code) => {
        clearTimeout(kill);
        resolve({ code, out, ms: Date.now() - t0 });
      });
    });

  it('a process whose pool was closed, or never closed but idle, exits on its own', async () => {
    for (const mode of ['close', 'idle']) {
      const r = await runChild(mode);
      expect(r.code, `${mode}: ${r.out}`).toBe(0);
      expect(r.out).toMatch(/threads before 1, after (0|1)/);
    }
  });
});
