import { describe, expect, it } from 'vitest';
import { ManualClock, merkleProof, merkleRoot, SeededRng } from '../../../src/core/index.js';
import {
  CLASS_PROFILES,
  commitTo,
  DEFAULT_SPOT_ROWS,
  FREIVALDS_PRIMES,
  generateMatrix,
  generateRow,
  issueChallenge,
  matrixKeys,
  merkleLevels,
  multiply,
  openRows,
  pickIndices,
  proofFromLevels,
  proofSides,
  prove,
  sizeFor,
  spotCheck,
  type Challenge,
  type OpenedRow,
} from '../../../src/capacity/index.js';
import { GOLDEN } from './golden.js';

const clock = new ManualClock();
const challenge = (rng: SeededRng, n: number): Challenge =>
  issueChallenge(rng, clock, { n, deadlineMs: 1000 });

describe('capacity challenge: the matrices', () => {
  it('derives A and B from the seed: the golden values gpu_prover.py gives too (gpu-prover.test.ts)', () => {
    const { seed } = GOLDEN;
    const keys = matrixKeys(seed);
    expect(keys).toEqual(GOLDEN.keys);
    const a = new Int32Array(64);
    generateRow(keys.a, 64, 0, a);
    const b = new Int32Array(64);
    generateRow(keys.b, 64, 1, b);
    expect(Array.from(a.slice(0, 8))).toEqual(GOLDEN.rowA0);
    expect(Array.from(b.slice(0, 8))).toEqual(GOLDEN.rowB1);
    const p = prove({ ...GOLDEN.challenge, seed, deadlineMs: 1000, issuedAt: 0 });
    expect(Array.from(p.c.slice(0, 4))).toEqual(GOLDEN.c0);
    expect(p.root).toBe(GOLDEN.root);
  });

  it('entries are int8 and roughly uniform; another seed gives another matrix', () => {
    const m = generateMatrix(matrixKeys('11'.repeat(32)).a, 128);
    let min = 0;
    let max = 0;
    let sum = 0;
    for (const v of m) {
      min = Math.min(min, v);
      max = Math.max(max, v);
      sum += v;
    }
    expect([min, max]).toEqual([-128, 127]);
    expect(Math.abs(sum / m.length + 0.5)).toBeLessThan(1);
    const other = generateMatrix(matrixKeys('12'.repeat(32)).a, 128);
    expect(other.filter((v, i) => v === m[i]).length).toBeLessThan(m.length / 64);
  });

  it('multiply is the exact integer product', () => {
    const n = 64;
    const keys = matrixKeys('ab'.repeat(32));
    const a = generateMatrix(keys.a, n);
    const b = generateMatrix(keys.b, n);
    const c = multiply(n, a, b);
    for (const [i, j] of [
      [0, 0],
      [5, 63],
      [63, 17],
    ] as const) {
      let s = 0;
      for (let l = 0; l < n; l++) s += a[i * n + l]! * b[l * n + j]!;
      expect(c[i * n + j]).toBe(s);
    }
    // worst case: every entry -128, every sum n·2^14, still exact in int32
    const w = new Float64Array(n * n).fill(-128);
    expect(multiply(n, w, w).every((v) => v === n * 16384)).toBe(true);
  });
});

describe('capacity challenge: the commitment', () => {
  it('builds the same tree and proofs as core/merkle', () => {
    for (const count of [1, 2, 7, 64, 129]) {
      const leaves = Array.from({ length: count }, (_, i) => Buffer.from(`leaf ${i}`));
      const levels = merkleLevels(leaves);
      expect(levels[levels.length - 1]![0]!.equals(merkleRoot(leaves))).toBe(true);
      for (const i of [0, Math.floor(count / 2), count - 1]) {
        expect(proofFromLevels(levels, i)).toEqual(merkleProof(leaves, i));
        expect(proofSides(count, i)).toEqual(merkleProof(leaves, i).map((s) => s.side));
      }
    }
  });

  it('issues fresh 256-bit seeds and ids from the Rng', () => {
    const rng = new SeededRng('seeds');
    const a = challenge(rng, 64);
    const b = challenge(rng, 64);
    expect(a.seed).toMatch(/^[0-9a-f]{64}$/);
    expect(a.seed).not.toBe(b.seed);
    expect(a.id).not.toBe(b.id);
    expect(a.issuedAt).toBe(clock.now());
    expect(() => issueChallenge(rng, clock, { n: 100, deadlineMs: 1 })).toThrow(/multiple of 64/);
  });
});

describe('capacity challenge: sizing', () => {
  it('sizes each class from its throughput; a model name picks its class; no claim is a CPU', () => {
    const h100 = sizeFor({ model: 'NVIDIA H100 80GB HBM3', memoryMiB: 81559 });
    expect(h100).toMatchObject({ gpuClass: 'h100', n: 16384, memoryMiB: Math.floor(81559 * 0.85) });
    // 1.5 s + 2·16384³ / (1979e12 / 4) + 1 GiB at 1 GiB/s
    expect(h100.deadlineMs).toBe(Math.ceil(1500 + (1000 * 2 * 16384 ** 3) / (1979e12 / 4) + 1000));
    const r3090 = sizeFor({ gpuClass: 'rtx3090', memoryMiB: 24576 });
    expect(r3090.deadlineMs).toBeGreaterThan(h100.deadlineMs);
    const cpu = sizeFor({});
    expect(cpu).toEqual({ gpuClass: 'cpu', n: CLASS_PROFILES.cpu.n, deadlineMs: expect.any(Number) });
    // the JS prover does 2·1024³ in about 1 s on one core: the deadline leaves it 5×
    expect(cpu.deadlineMs).toBeGreaterThan(5000);
    expect(sizeFor({ gpuClass: 'h100' }, { rttMs: 80 }).deadlineMs).toBe(
      sizeFor({ gpuClass: 'h100' }).deadlineMs + 80,
    );
  });
});

describe('capacity challenge: spotCheck', () => {
  const open = (ch: Challenge, c: Int32Array, indices: number[]) => openRows(commitTo(ch, c), indices);

  it('passes an honest prover (Freivalds and exact), n = 128 and 256, several seeds', () => {
    const rng = new SeededRng('honest');
    for (const n of [128, 256])
      for (let s = 0; s < 3; s++) {
        const ch = challenge(rng, n);
        const p = prove(ch);
        const indices = pickIndices(rng, n, DEFAULT_SPOT_ROWS);
        const rows = openRows(p, indices);
        expect(spotCheck(ch, { root: p.root }, rows, { indices, rng })).toEqual({ ok: true, rows: 32 });
        expect(spotCheck(ch, { root: p.root }, rows, { indices, exact: true })).toEqual({
          ok: true,
          rows: 32,
        });
      }
  });

  it('fails a made-up root: no opened row has a proof to it', () => {
    const rng = new SeededRng('made-up');
    const ch = challenge(rng, 128);
    const p = prove(ch);
    const indices = pickIndices(rng, 128, 8);
    const r = spotCheck(ch, { root: 'ab'.repeat(32) }, openRows(p, indices), { indices, rng });
    expect(r).toMatchObject({ ok: false, kind: 'proof' });
  });

  it('fails a made-up C committed honestly: the rows are not rows of A·B', () => {
    const rng = new SeededRng('made-up-c');
    const ch = challenge(rng, 128);
    const fake = new Int32Array(128 * 128).map(() => rng.int(-100_000, 100_000));
    const indices = pickIndices(rng, 128, 1);
    const rows = open(ch, fake, indices);
    const root = commitTo(ch, fake).root;
    expect(spotCheck(ch, { root }, rows, { indices, rng })).toMatchObject({ ok: false, kind: 'row' });
    expect(spotCheck(ch, { root }, rows, { indices, exact: true })).toMatchObject({ ok: false, kind: 'row' });
  });

  it('catches a single wrong entry in an opened row, including one off by a multiple of a prime', () => {
    const rng = new SeededRng('one-entry');
    const n = 256; // bound n·2^14 leaves room for an entry off by a prime: Freivalds, not the range, must catch it
    const ch = challenge(rng, n);
    const honest = prove(ch).c;
    for (const delta of [1, -1, FREIVALDS_PRIMES[0]!, -FREIVALDS_PRIMES[2]!]) {
      const c = honest.slice();
      c[5 * n + 77] = c[5 * n + 77]! + delta;
      const root = commitTo(ch, c).root;
      const rows = open(ch, c, [5]);
      const bad = { ok: false, kind: 'row', index: 5 };
      expect(spotCheck(ch, { root }, rows, { indices: [5], rng })).toMatchObject(bad);
      expect(spotCheck(ch, { root }, rows, { indices: [5], exact: true })).toMatchObject(bad);
    }
  });

  it('fails a prover that computed only half the rows, with probability ≥ 1 - 2^-32 per check', () => {
    // P[pass] = C(n/2, k) / C(n, k) ≤ (1/2)^k: with k = 32, never in practice (docs/verification.md)
    const rng = new SeededRng('partial');
    const n = 128;
    const ch = challenge(rng, n);
    const c = prove(ch).c.slice();
    for (let i = 1; i < n; i += 2) for (let j = 0; j < n; j++) c[i * n + j] = 0; // odd rows skipped
    const committed = commitTo(ch, c);
    let passed = 0;
    for (let trial = 0; trial < 20; trial++) {
      const indices = pickIndices(rng, n, DEFAULT_SPOT_ROWS);
      if (spotCheck(ch, { root: committed.root }, openRows(committed, indices), { indices, rng }).ok)
        passed++;
    }
    expect(passed).toBe(0);
    // with a single opened row it passes about half the time: the k rows are what catches it
    let single = 0;
    for (let trial = 0; trial < 40; trial++) {
      const indices = pickIndices(rng, n, 1);
      if (spotCheck(ch, { root: committed.root }, openRows(committed, indices), { indices, rng }).ok)
        single++;
    }
    expect(single).toBeGreaterThan(5);
    expect(single).toBeLessThan(35);
  });

  it('fails a replayed commitment: an old seed, or the same seed under another id', () => {
    const rng = new SeededRng('replay');
    const old = challenge(rng, 128);
    const p = prove(old);
    const indices = pickIndices(rng, 128, 8);
    const rows = openRows(p, indices);
    const fresh = challenge(rng, 128);
    expect(spotCheck(fresh, { root: p.root }, rows, { indices, rng })).toMatchObject({
      ok: false,
      kind: 'proof',
    });
    const sameSeed = { ...old, id: 'cap-another' };
    expect(spotCheck(sameSeed, { root: p.root }, rows, { indices, rng })).toMatchObject({
      ok: false,
      kind: 'proof',
    });
  });

  it('rejects malformed openings: missing, extra or repeated rows, wrong lengths, bad proofs', () => {
    const rng = new SeededRng('malformed');
    const ch = challenge(rng, 64);
    const p = prove(ch);
    const indices = [3, 9];
    const rows = openRows(p, indices);
    const check = (r: OpenedRow[], root = p.root) => spotCheck(ch, { root }, r, { indices, rng });
    expect(check(rows.slice(0, 1))).toMatchObject({ ok: false, kind: 'malformed' });
    expect(check([rows[0]!, rows[0]!])).toMatchObject({ ok: false, kind: 'malformed' });
    expect(check([rows[0]!, { ...rows[1]!, index: 10 }])).toMatchObject({ ok: false, kind: 'malformed' });
    expect(check([rows[0]!, { ...rows[1]!, row: rows[1]!.row.slice(1) }])).toMatchObject({
      kind: 'malformed',
    });
    expect(check([rows[0]!, { ...rows[1]!, row: rows[1]!.row.map((v) => v + 0.5) }])).toMatchObject({
      kind: 'malformed',
    });
    expect(check([rows[0]!, { ...rows[1]!, proof: rows[1]!.proof.slice(1) }])).toMatchObject({
      kind: 'proof',
    });
    // row 3's proof presented for row 9: the shape gives it away
    expect(check([rows[0]!, { ...rows[1]!, proof: rows[0]!.proof }])).toMatchObject({ kind: 'proof' });
    expect(check(rows, 'not hex')).toMatchObject({ kind: 'malformed' });
    expect(check(rows)).toEqual({ ok: true, rows: 2 });
  });
});
