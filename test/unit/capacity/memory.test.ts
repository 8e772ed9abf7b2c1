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
  answerRead,
  computeTile,
  fillMemory,
  groupPositions,
  groupSum,
  leafCount,
  openSums,
  readPrefix,
  sumsLeaf,
  pickGroups,
  SUMS_PER_LEAF,
  validateMemoryParams,
  verifyReads,
  type MemoryProofParams,
} from '../../../src/capacity/memory.js';
import { merkleLevels } from '../../../src/capacity/challenge.js';

const FILL = { tiles: 5, m: 64, depth: 128 };
const READ = { groups: 600, perGroup: 16 };
const PARAMS: MemoryProofParams = { ...FILL, ...READ, fillDeadlineMs: 60_000, readDeadlineMs: 60_000 };
const SEED_F = '11'.repeat(32);
const SEED_R = '22'.repeat(32);

describe('memory proof: the arithmetic', () => {
  it('a group sum from the seed alone equals the sum of the computed tile words', () => {
    const tile = computeTile(SEED_F, FILL, 3);
    // the tile is the exact product: one word recomputed by hand from groupSum with one column
    for (const [i, j] of [
      [0, 0],
      [17, 63],
      [63, 5],
    ] as const)
      expect(groupSum(SEED_F, FILL, 3, i, [j])).toBe(tile[i * 64 + j]);
    for (let g = 0; g < 20; g++) {
      const { tile: t, row, cols } = groupPositions(SEED_R, FILL, READ, g);
      const w = computeTile(SEED_F, FILL, t);
      expect(groupSum(SEED_F, FILL, t, row, cols)).toBe(cols.reduce((s, j) => s + w[row * 64 + j]!, 0));
    }
  });

  it('positions: tiles and rows in range, G distinct columns per group, different for another read seed', () => {
    const a = groupPositions(SEED_R, FILL, READ, 7);
    expect(a.tile).toBeLessThan(5);
    expect(a.row).toBeLessThan(64);
    expect(new Set(a.cols).size).toBe(16);
    expect(a.cols.every((j) => j >= 0 && j < 64)).toBe(true);
    expect(groupPositions('33'.repeat(32), FILL, READ, 7)).not.toEqual(a);
  });

  it('refuses parameters whose counters would pass 2^32 or whose columns cannot be distinct', () => {
    expect(() => validateMemoryParams({ tiles: 1, m: 65_536, depth: 65_536 })).toThrow(/m must be/);
    expect(() => validateMemoryParams({ tiles: 1, m: 32_768, depth: 65_536 })).not.toThrow();
    expect(() => validateMemoryParams({ tiles: 0, m: 64, depth: 64 })).toThrow(/tiles/);
    expect(() => validateMemoryParams({ tiles: 1, m: 100, depth: 64 })).toThrow(/multiple of 64/);
    expect(() => validateMemoryParams({ ...FILL, groups: 1, perGroup: 33 })).toThrow(/at most m\/2/);
    expect(() => validateMemoryParams({ ...FILL, groups: 2 ** 31, perGroup: 1 })).toThrow(/2\^30/);
  });

  it('verifyReads accepts the honest answer and rejects tampered sums, proofs, leaves and roots', () => {
    const id = 'cap-mem';
    const ans = answerRead(fillMemory(SEED_F, FILL), id, SEED_R, READ);
    const picked = pickGroups(new SeededRng(1), READ.groups, 6);
    const opened = openSums(ans, picked.leaves);
    const check = (rows: typeof opened, root = ans.root) =>
      verifyReads(id, SEED_F, SEED_R, PARAMS, root, rows, picked);
    expect(check(opened)).toEqual({ ok: true, groups: 6 });

    const g = picked.groups[0]!;
    const leaf = Math.floor(g / SUMS_PER_LEAF);
    const tampered = opened.map((o) => (o.index === leaf ? { ...o, row: o.row.slice() } : o));
    tampered.find((o) => o.index === leaf)!.row[g % SUMS_PER_LEAF]! += 1;
    expect(check(tampered)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/Merkle proof does not lead/),
    });

    // a prover that committed to wrong sums consistently: the root matches, the recomputation does not
    const wrong = answerRead(fillMemory(SEED_F, FILL), id, SEED_R, READ);
    wrong.sums[g] = wrong.sums[g]! + 1;
    const bad = { ...wrong, ...answerReadFromSums(wrong.sums, id) };
    expect(
      verifyReads(id, SEED_F, SEED_R, PARAMS, bad.root, openSums(bad, picked.leaves), picked),
    ).toMatchObject({
      ok: false,
      reason: expect.stringMatching(new RegExp(`group ${g} .*not that of the tile's words`)),
    });

    expect(check(opened.slice(1))).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/leaves opened/),
    });
    expect(opened.length).toBeGreaterThan(1);
    expect(check([opened[0]!, ...opened.slice(0, -1)])).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/not requested, or came twice/),
    });
    expect(check(opened, 'ab'.repeat(32))).toMatchObject({ ok: false });
    expect(check(opened, 'not a root')).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/not a 32-byte/),
    });
    expect(check(opened.map((o) => ({ ...o, row: o.row.map(() => 2 ** 60) })))).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/not an integer in/),
    });
    expect(check(opened.map((o) => ({ ...o, proof: o.proof.slice(1) })))).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/wrong shape/),
    });
    // another read seed's answer (a replay) does not verify
    const other = answerRead(fillMemory(SEED_F, FILL), id, '44'.repeat(32), READ);
    expect(check(openSums(other, picked.leaves), other.root).ok).toBe(false);
  });

  it('a prover holding fewer tiles recomputes the others to answer (what the read deadline is sized against)', () => {
    const held = fillMemory(SEED_F, FILL, (t) => t < 2);
    expect(held.tiles.size).toBe(2);
    const a = answerRead(held, 'x', SEED_R, READ);
    expect(a.recomputedTiles).toBe(3);
    expect(a.root).toBe(answerRead(fillMemory(SEED_F, FILL), 'x', SEED_R, READ).root);
  });
});

/** The tree over given sums (a cheater committing to wrong sums consistently). */
function answerReadFromSums(sums: Float64Array, id: string) {
  const prefix = readPrefix(id, SEED_F, SEED_R, { ...FILL, ...READ });
  const leaves = Array.from({ length: leafCount(READ.groups) }, (_, f) =>
    sumsLeaf(prefix, f, sums.subarray(f * SUMS_PER_LEAF, (f + 1) * SUMS_PER_LEAF)),
  );
  const levels = merkleLevels(leaves);
  return { levels, sums, root: levels[levels.length - 1]![0]!.toString('hex') };
}

describe('memory proof: the protocol', () => {
  it('parses fill and read messages, and refuses malformed ones', () => {
    const fill = { type: 'fill', id: 'a', seed: SEED_F, ...FILL };
    expect(parseCheckerMessage(JSON.stringify(fill))).toEqual({ ok: true, message: fill });
    expect(parseCheckerMessage(JSON.stringify({ ...fill, m: 65 }))).toMatchObject({ ok: false });
    expect(parseCheckerMessage(JSON.stringify({ ...fill, seed: 'XY' }))).toMatchObject({ ok: false });
    expect(parseCheckerMessage(JSON.stringify({ ...fill, tiles: 1.5 }))).toMatchObject({ ok: false });
    const read = { type: 'read', id: 'a', seed: SEED_R, ...READ };
    expect(parseCheckerMessage(JSON.stringify(read))).toEqual({ ok: true, message: read });
    expect(parseCheckerMessage(JSON.stringify({ ...read, perGroup: 0 }))).toMatchObject({ ok: false });
    expect(parseCheckerMessage(JSON.stringify({ ...read, groups: -1 }))).toMatchObject({ ok: false });
  });

  const inProcess = (
    session: CpuProverSession,
    edit?: (m: CheckerMessage, out: ProverMessage) => ProverMessage,
  ) =>
    handlerChannel(session.ready(), (m) => {
      const out = session.handle(m);
      return edit ? edit(m, out) : out;
    });
  const base = { claim: {}, n: 64, memoryMiB: null, memoryProof: PARAMS } as const;

  it('the in-process prover passes the compute and the memory proof, over several seeds', async () => {
    for (let s = 0; s < 3; s++) {
      const r = await runCapacityCheck({
        ...base,
        prover: inProcess(new CpuProverSession({ clock: new ManualClock() })),
        rng: new SeededRng(`mem-${s}`),
        clock: new ManualClock(),
      });
      expect(r, r.reason).toMatchObject({
        ok: true,
        code: 'passed',
        memory: { tiles: 5, fillMs: 0, readMs: 0 },
      });
      expect(r.reason).toMatch(/5 tiles \(0 MiB\) filled .* 16 groups verified/);
    }
  });

  it('fails a prover whose read root is random, or whose sums are for another read seed', async () => {
    const random = await runCapacityCheck({
      ...base,
      prover: inProcess(new CpuProverSession(), (m, out) =>
        m.type === 'read' ? { type: 'read-root', id: m.id, root: 'cd'.repeat(32) } : out,
      ),
      rng: new SeededRng('mem-random'),
      clock: new ManualClock(),
    });
    expect(random).toMatchObject({
      ok: false,
      code: 'memory',
      reason: expect.stringMatching(/does not lead to the read root/),
    });
    const session = new CpuProverSession();
    const replay = await runCapacityCheck({
      ...base,
      // answers every read as if its seed were another one
      prover: handlerChannel(session.ready(), (m) =>
        session.handle(m.type === 'read' ? { ...m, seed: '55'.repeat(32) } : m),
      ),
      rng: new SeededRng('mem-replay'),
      clock: new ManualClock(),
    });
    expect(replay).toMatchObject({ ok: false, code: 'memory' });
  });

  it('fails a fill or a read past its deadline on the checker clock, and one never answered', async () => {
    const clock = new ManualClock();
    const slowRead = await runCapacityCheck({
      ...base,
      memoryProof: { ...PARAMS, readDeadlineMs: 100 },
      prover: inProcess(new CpuProverSession(), (m, out) => {
        if (m.type === 'read') clock.advance(101);
        return out;
      }),
      rng: new SeededRng('mem-slow'),
      clock,
    });
    expect(slowRead).toMatchObject({
      ok: false,
      code: 'memory',
      reason: 'the read took 101 ms, past its deadline of 100 ms: the tiles are not all held on the device',
    });
    const silent = await runCapacityCheck({
      ...base,
      memoryProof: { ...PARAMS, fillDeadlineMs: 50 },
      prover: handlerChannel(new CpuProverSession().ready(), (m) =>
        m.type === 'fill' ? new Promise<ProverMessage>(() => {}) : new CpuProverSession().handle(m),
      ),
      rng: new SeededRng('mem-silent'),
      clock: new ManualClock(),
    });
    expect(silent.code).not.toBe('passed');
  });

  it('a device without room for the tiles answers a memory error', async () => {
    const { SimulatedGpuMemory, simulatedGpuProver } =
      await import('../../../src/container/simulated-gpu.js');
    const device = new SimulatedGpuMemory(0.05); // MiB: less than 5 tiles of 16 KiB
    const r = await runCapacityCheck({
      ...base,
      prover: simulatedGpuProver(device)(),
      rng: new SeededRng('mem-small'),
      clock: new ManualClock(),
    });
    expect(r).toMatchObject({
      ok: false,
      code: 'memory',
      reason: expect.stringMatching(/cannot hold the 1 MiB of tiles/),
    });
    expect(device.usedMiB()).toBe(0);
  });
});

const torchPython = ['python3', '/usr/bin/python3'].find(
  (py) => spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 }).status === 0,
);

describe('memory proof: gpu_prover.py --device cpu', () => {
  it.runIf(torchPython)(
    `fills, reads and opens bit-exact with memory.ts: the TypeScript checker passes it (${torchPython ?? 'no torch'})`,
    async () => {
      const r = await runCapacityCheck({
        ...{ claim: {}, n: 64, memoryMiB: null, memoryProof: PARAMS },
        prover: gpuProverCommand(torchPython!, ['--device', 'cpu']),
        rng: new SeededRng('mem-python'),
        clock: systemClock,
      });
      expect(r, r.reason).toMatchObject({
        ok: true,
        code: 'passed',
        prover: { prover: 'gpu', device: 'cpu' },
      });
    },
    120_000,
  );
  it.skipIf(torchPython)('gpu_prover.py --device cpu (skipped: no python imports torch)', () => {});
});
