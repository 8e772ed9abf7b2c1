import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ManualClock, SeededRng, systemClock } from '../../../src/core/index.js';
import {
  CpuProverSession,
  gpuProverCommand,
  handlerChannel,
  parseCheckerMessage,
  runCapacityCheck,
  type CheckerMessage,
  type ProverMessage,
} from '../../../src/capacity/index.js';
import {
  answerWork,
  DIGEST_WIDTH,
  digestMatrix,
  expectedDigests,
  openWork,
  pickWorkRows,
  preparePool,
  productOf,
  ROWS_PER_LEAF,
  rowDigest,
  validateWorkParams,
  verifyWork,
  wrap8,
  type WorkProofParams,
} from '../../../src/capacity/work.js';
import { generateRow } from '../../../src/capacity/challenge.js';
import { poolKey } from '../../../src/capacity/work.js';

const P = { n: 64, pool: 3, products: 4 };
const WP: WorkProofParams = { ...P, deadlineMs: 60_000, prepareTimeoutMs: 60_000 };
const SEED_P = '33'.repeat(32);
const SEED_W = '44'.repeat(32);
const ID = 'cap-work';

/** Row i of product r by the definition: Σ_k X_a[i][k] · X_b[(mult·k + add) mod n]. */
function rowByDefinition(r: number, i: number): number[] {
  const { n } = P;
  const { a, b, mult, add } = productOf(SEED_W, P, r);
  const ra = new Float64Array(n);
  generateRow(poolKey(SEED_P, a), n, i, ra);
  const out = new Array<number>(n).fill(0);
  const rb = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    generateRow(poolKey(SEED_P, b), n, (mult * k + add) % n, rb);
    for (let j = 0; j < n; j++) out[j]! += ra[k]! * rb[j]!;
  }
  return out;
}

describe('throughput proof: the arithmetic', () => {
  it('wrap8 is the int32 → int8 wrap (the low byte, signed)', () => {
    for (const [c, q] of [
      [0, 0],
      [127, 127],
      [128, -128],
      [200, -56],
      [255, -1],
      [256, 0],
      [-1, -1],
      [-129, 127],
      [2 ** 28 + 3, 3],
    ])
      expect(wrap8(c!)).toBe(q);
  });

  it('the prover digests, and the checker recomputes from the seeds, the rows of X_a·Π·X_b', () => {
    const ans = answerWork(preparePool(SEED_P, P), ID, SEED_W);
    const k = digestMatrix(SEED_W, P.n);
    const rows = [0, 5, 64 + 63, 2 * 64 + 17, 4 * 64 - 1];
    const want = expectedDigests(SEED_P, SEED_W, P, rows);
    for (const g of rows) {
      const d = new Int32Array(DIGEST_WIDTH);
      rowDigest(rowByDefinition(Math.floor(g / 64), g % 64), k, d);
      expect(Array.from(ans.digests.subarray(g * 8, g * 8 + 8))).toEqual(Array.from(d));
      expect(Array.from(want.get(g)!)).toEqual(Array.from(d));
    }
    // products differ: another permutation, other pool matrices
    expect(productOf(SEED_W, P, 0)).not.toEqual(productOf(SEED_W, P, 1));
    expect(productOf(SEED_W, P, 0).mult % 2).toBe(1);
  });

  it('the digest is not linear in the product: q(C)·K differs from C·K (the O(n²) shortcut X_a·(Π·X_b·K) gives the latter)', () => {
    const row = rowByDefinition(1, 9);
    const k = digestMatrix(SEED_W, P.n);
    const d = new Int32Array(DIGEST_WIDTH);
    rowDigest(row, k, d);
    const linear = Array.from({ length: DIGEST_WIDTH }, (_, j) =>
      row.reduce((s, c, l) => s + c * k[l * DIGEST_WIDTH + j]!, 0),
    );
    expect(Array.from(d)).not.toEqual(linear);
  });

  it('validates its parameters', () => {
    expect(() => validateWorkParams({ n: 100, pool: 1, products: 1 })).toThrow(/multiple of 64/);
    expect(() => validateWorkParams({ n: 64, pool: 0, products: 1 })).toThrow(/pool/);
    expect(() => validateWorkParams({ n: 64, pool: 65, products: 1 })).toThrow(/pool/);
    expect(() => validateWorkParams({ n: 64, pool: 1, products: 2 ** 21 })).toThrow(/products/);
    expect(() => validateWorkParams({ n: 32_768, pool: 1, products: 2 ** 20 })).toThrow(/2\^31/);
  });
});

describe('throughput proof: attacks on the checker', () => {
  const prep = preparePool(SEED_P, P);
  const ans = answerWork(prep, ID, SEED_W);
  const picked = pickWorkRows(new SeededRng('pick'), P, 6);
  const opened = () => openWork(ans, picked.leaves);
  const verify = (root: string, o: ReturnType<typeof opened>) =>
    verifyWork(ID, SEED_P, SEED_W, P, root, o, picked);

  it('an honest answer passes', () => {
    expect(verify(ans.root, opened())).toEqual({ ok: true, rows: 6 });
    expect(picked.leaves.every((l) => l >= 0 && l < (P.products * P.n) / ROWS_PER_LEAF)).toBe(true);
  });

  it('a prover that skipped the rows a check picks is caught; the same answer under another id or seed fails', () => {
    const lazy = answerWork(prep, ID, SEED_W, (g) => !picked.rows.includes(g));
    expect(lazy.computedRows).toBe(P.products * P.n - picked.rows.length);
    const r = verifyWork(ID, SEED_P, SEED_W, P, lazy.root, openWork(lazy, picked.leaves), picked);
    expect(r).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/its digest is not that of the product's row/),
    });
    expect(verifyWork('other', SEED_P, SEED_W, P, ans.root, opened(), picked)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/does not lead to the work root/),
    });
    expect(verifyWork(ID, SEED_P, '55'.repeat(32), P, ans.root, opened(), picked)).toMatchObject({
      ok: false,
    });
  });

  it('garbage is refused with a reason and no exception: bad root, missing, repeated or extra leaves, wrong sizes, non-integers, bad proofs', () => {
    const o = opened();
    const cases: Array<[string, unknown[], RegExp]> = [
      ['nothex', o, /not a 32-byte hex root/],
      [ans.root, o.slice(1), /leaves opened/],
      [ans.root, [o[0], ...o.slice(0, -1)], /was not requested, or came twice/],
      [ans.root, o.map((x) => ({ ...x, index: 10_000 })), /was not requested/],
      [ans.root, o.map((x, i) => (i ? x : { ...x, row: x.row.slice(1) })), /does not have 512 digests/],
      [ans.root, o.map((x, i) => (i ? x : { ...x, row: x.row.map(() => 0.5) })), /not an int32/],
      [ans.root, o.map((x, i) => (i ? x : { ...x, row: x.row.map(() => 2 ** 40) })), /not an int32/],
      [ans.root, o.map((x, i) => (i ? x : { ...x, proof: [] })), /wrong shape/],
      [
        ans.root,
        o.map((x, i) => (i ? x : { ...x, row: x.row.map((v, j) => (j === 0 ? v + 1 : v)) })),
        /does not lead to the work root/,
      ],
      [ans.root, o.map(() => null), /was not requested/],
    ];
    for (const [root, rows, why] of cases) {
      const r = verifyWork(ID, SEED_P, SEED_W, P, root, rows as never, picked);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(why);
    }
    expect(verifyWork(ID, SEED_P, SEED_W, P, ans.root, 'x' as never, picked).ok).toBe(false);
  });

  it('protocol: malformed prepare and work messages are refused by the parser', () => {
    const base = { id: 'x', seed: 'ab'.repeat(32) };
    for (const bad of [
      { type: 'prepare', ...base, n: 100, pool: 1 },
      { type: 'prepare', ...base, n: 64, pool: 0 },
      { type: 'prepare', ...base, seed: 'zz', n: 64, pool: 1 },
      { type: 'prepare', ...base, n: 64, pool: 1, deadlineMs: -1 },
      { type: 'work', ...base, products: 0 },
      { type: 'work', ...base, products: 1.5 },
      { type: 'work', ...base, products: '3' },
    ])
      expect(parseCheckerMessage(JSON.stringify(bad)).ok, JSON.stringify(bad)).toBe(false);
    expect(parseCheckerMessage(JSON.stringify({ type: 'work', ...base, products: 3 }))).toMatchObject({
      ok: true,
      message: { type: 'work', products: 3 },
    });
  });
});

describe('throughput proof: runCapacityCheck', () => {
  const run = (session: CpuProverSession, clock: ManualClock, delayMs: (m: CheckerMessage) => number) =>
    runCapacityCheck({
      prover: handlerChannel(session.ready(), (m) => {
        const out = session.handle(m);
        clock.advance(delayMs(m));
        return out;
      }),
      claim: {},
      n: 64,
      deadlineMs: 5_000,
      memoryMiB: null,
      workProof: { ...WP, deadlineMs: 3_000 },
      verifiedWorkRows: 8,
      rng: new SeededRng('work-run'),
      clock,
    });

  it('an honest prover passes; the prepare is not timed against the deadline (it may take long)', async () => {
    const clock = new ManualClock();
    const r = await run(new CpuProverSession(), clock, (m) =>
      m.type === 'prepare' ? 50_000 : m.type === 'work' ? 2_900 : 0,
    );
    expect(r, r.reason).toMatchObject({
      ok: true,
      code: 'passed',
      work: { products: 4, workMs: 2_900, deadlineMs: 3_000 },
    });
    expect(r.reason).toMatch(/4 products of n = 64 in 2900 ms of 3000 ms, 8 rows verified/);
  });

  it('a prover past the deadline fails "throughput"; one that skips rows to meet it fails the digests', async () => {
    const late = await run(new CpuProverSession(), new ManualClock(), (m) => (m.type === 'work' ? 3_001 : 0));
    expect(late).toMatchObject({
      ok: false,
      code: 'throughput',
      reason: expect.stringMatching(/past their deadline of 3000 ms/),
    });
    const lazy = await run(
      new CpuProverSession({ computeWorkRow: (g) => g % 2 === 0 }),
      new ManualClock(),
      (m) => (m.type === 'work' ? 1_500 : 0),
    );
    expect(lazy).toMatchObject({
      ok: false,
      code: 'throughput',
      reason: expect.stringMatching(/digest is not that/),
    });
  });

  it('a prover that answers the work with something else, or an error, fails with the reason', async () => {
    const session = new CpuProverSession();
    const wrong = await runCapacityCheck({
      prover: handlerChannel(session.ready(), (m): ProverMessage => {
        if (m.type === 'work') return { type: 'read-root', root: '00'.repeat(32) };
        return session.handle(m);
      }),
      claim: {},
      n: 64,
      deadlineMs: 5_000,
      memoryMiB: null,
      workProof: WP,
      rng: new SeededRng('work-wrong'),
      clock: new ManualClock(),
    });
    expect(wrong).toMatchObject({
      ok: false,
      code: 'protocol',
      reason: expect.stringMatching(/expected "work-root"/),
    });
  });
});

const torchPython = ['python3', '/usr/bin/python3'].find(
  (py) => spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 }).status === 0,
);

describe('throughput proof: gpu_prover.py --device cpu', () => {
  it.runIf(torchPython)(
    `prepares, works and opens bit-exact with work.ts: the TypeScript checker passes it (${torchPython ?? 'no torch'})`,
    async () => {
      const r = await runCapacityCheck({
        ...{ claim: {}, n: 64, memoryMiB: null, workProof: WP, verifiedWorkRows: 12 },
        prover: gpuProverCommand(torchPython!, ['--device', 'cpu']),
        rng: new SeededRng('work-python'),
        clock: systemClock,
      });
      expect(r, r.reason).toMatchObject({
        ok: true,
        code: 'passed',
        prover: { prover: 'gpu', device: 'cpu' },
      });
      expect(r.reason).toMatch(/4 products of n = 64/);
    },
    120_000,
  );
  it.skipIf(torchPython)('gpu_prover.py --device cpu (skipped: no python imports torch)', () => {});
});
