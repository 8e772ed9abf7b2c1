import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SeededRng, systemClock } from '../../../src/core/index.js';
import {
  CAPACITY_PROTOCOL_VERSION,
  GPU_PROVER_SCRIPT,
  gpuProverCommand,
  runCapacityCheck,
  spawnProver,
  type ProverMessage,
} from '../../../src/capacity/index.js';
import { GOLDEN } from './golden.js';

/**
 * gpu_prover.py, the default prover of a GPU host where PyTorch sees CUDA, run here for real: its
 * pure-Python arithmetic (no torch), and the whole prover with `--device cpu` on a CPU PyTorch
 * (Debian's python3-torch, installed by .ci/run). Its answers must be bit-exact with challenge.ts
 * (the golden values) and verify with the TypeScript checker.
 */

const run = (python: string, args: string[]) =>
  spawnSync(python, args, { encoding: 'utf8', timeout: 60_000 });
const hasPython = run('python3', ['--version']).status === 0;

/** The first of these pythons that imports torch (pyenv's python3 may shadow Debian's /usr/bin/python3). */
const torchPython = (() => {
  const tried: string[] = [];
  for (const py of ['python3', '/usr/bin/python3']) {
    const r = run(py, ['-c', 'import torch; print(torch.__version__)']);
    if (r.status === 0) return { python: py, version: r.stdout.trim(), why: '' };
    tried.push(`${py}: ${r.error?.message ?? (r.stderr.trim().split('\n').pop() || `exit ${r.status}`)}`);
  }
  return { python: null, version: null, why: tried.join('; ') };
})();

/**
 * fill_rows and read_step over every side (multiples of 64), depth, room and group size of a grid:
 * what breaks their promise (rows dividing the side, at least 64 or the whole side; a block's
 * product within half the room unless already at 64 rows; a step within half the room unless 1).
 */
const STEPS = `
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("gpu_prover", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
bad, checked = [], 0
rooms = [None, 1, 1 << 16, 1 << 20, 5 << 20, 1 << 27, 1 << 30, 3 << 30]
for side in list(range(64, 4097, 64)) + [8192, 16384, 32768]:
    for depth in [64, 1024, 2048, 16384]:
        for chunked in [False, True]:
            per_row = 12 * side + 4 * min(depth, 1024) if chunked else 4 * side
            for room in rooms:
                rows = m.fill_rows(side, depth, chunked, room)
                checked += 1
                if side % rows or rows < min(64, side) or rows > side:
                    bad.append(["rows", side, depth, chunked, room, rows])
                elif room is not None and rows * per_row > room // 2 and rows // 2 >= 64:
                    bad.append(["too big", side, depth, chunked, room, rows])
for per in [1, 16, 256, 1024]:
    for room in rooms:
        step = m.read_step(per, room)
        checked += 1
        if not 1 <= step <= m.READ_CHUNK or (room is not None and step > 1 and step * (20 * per + 64) > room // 2):
            bad.append(["step", per, room, step])
print(json.dumps({"checked": checked, "bad": bad[:10],
    "unbounded": [m.fill_rows(8192, 16384, False, None), m.read_step(256, None)],
    "gib": [m.fill_rows(8192, 16384, False, 1 << 30), m.read_step(256, 1 << 30)]}))
`;

/** Imports gpu_prover.py as a module (its top level needs no torch) and prints what its functions give. */
const PURE = `
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("gpu_prover", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
assert "torch" not in sys.modules, "importing gpu_prover imported torch"
ka, kb = m.matrix_keys(sys.argv[2])
n = 64
# gen_matrix's arithmetic on one element e = row * n + col, through the module's own mix()
def entry(key, e):
    x = m.mix(e ^ key[0])
    x = m.mix((x + key[1]) & m.M32)
    return (x >> 24) - 128
print(json.dumps({
    "keys": {"a": list(ka), "b": list(kb)},
    "rowA0": [entry(ka, 0 * n + j) for j in range(8)],
    "rowB1": [entry(kb, 1 * n + j) for j in range(8)],
}))
`;

describe('gpu_prover.py', () => {
  it.runIf(hasPython)(
    'matrix_keys and mix (pure Python, no torch) give the golden values of challenge.ts',
    () => {
      const r = run('python3', ['-c', PURE, GPU_PROVER_SCRIPT, GOLDEN.seed]);
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ keys: GOLDEN.keys, rowA0: GOLDEN.rowA0, rowB1: GOLDEN.rowB1 });
    },
  );
  it.skipIf(hasPython)('matrix_keys and mix (skipped: python3 is not on PATH)', () => {});

  it.runIf(hasPython)(
    "the fill's blocks of rows and the read's steps fit half the room left, never below 64 rows or 1 group, and cover the whole",
    () => {
      const r = run('python3', ['-c', STEPS, GPU_PROVER_SCRIPT]);
      expect(r.status, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout) as {
        checked: number;
        bad: unknown[];
        unbounded: number[];
        gib: number[];
      };
      expect(j.bad).toEqual([]);
      expect(j.checked).toBe(67 * 4 * 2 * 8 + 4 * 8);
      // nothing bounds the CPU without --working-mib: whole tiles, the full read step
      expect(j.unbounded).toEqual([8192, 1 << 17]);
      // MEMORY_SHAPE (m 8,192, depth 16,384, 256 per group) with 1 GiB free, on int8: whole tiles
      // (256 MiB a product), and the read's 2^17 groups would take 679 MiB, more than half of it
      expect(j.gib).toEqual([8192, Math.floor((1 << 29) / (20 * 256 + 64))]);
    },
  );

  if (torchPython.python) {
    const py = torchPython.python;
    const argv = gpuProverCommand(py, ['--device', 'cpu']);

    it(`--device cpu on PyTorch ${torchPython.version} (${py}): the golden challenge's root and rows`, async () => {
      const prover = spawnProver(argv, { killAfterMs: 1000 });
      const next = async (): Promise<ProverMessage> => {
        const r = await prover.receive(60_000);
        if (r.kind !== 'message') throw new Error(`${JSON.stringify(r)}; stderr: ${prover.stderrTail?.()}`);
        return r.message;
      };
      try {
        expect(await next()).toMatchObject({ type: 'ready', prover: 'gpu', device: 'cpu' });
        prover.send({
          type: 'challenge',
          version: CAPACITY_PROTOCOL_VERSION,
          ...GOLDEN.challenge,
          seed: GOLDEN.seed,
          deadlineMs: 60_000,
          issuedAt: 0,
        });
        expect(await next()).toMatchObject({
          type: 'commitment',
          id: GOLDEN.challenge.id,
          root: GOLDEN.root,
        });
        prover.send({ type: 'open', id: GOLDEN.challenge.id, indices: [0] });
        const rows = await next();
        expect(rows.type).toBe('rows');
        if (rows.type !== 'rows') return;
        expect(rows.rows).toHaveLength(1);
        expect(rows.rows[0]!.index).toBe(0);
        expect(rows.rows[0]!.row).toHaveLength(64);
        expect(rows.rows[0]!.row.slice(0, 4)).toEqual(GOLDEN.c0);
      } finally {
        await prover.close();
      }
    }, 90_000);

    it(`--device cpu on PyTorch ${torchPython.version} (${py}): its answers pass the TypeScript checker (Freivalds and exact, with a memory test)`, async () => {
      for (const [seed, exact] of [
        ['gpu-prover-a', false],
        ['gpu-prover-b', true],
      ] as const) {
        const r = await runCapacityCheck({
          prover: argv,
          claim: {},
          n: 128,
          deadlineMs: 60_000,
          memoryMiB: 8,
          exact,
          rng: new SeededRng(seed),
          clock: systemClock,
        });
        expect(r, r.reason).toMatchObject({
          ok: true,
          code: 'passed',
          n: 128,
          k: 32,
          prover: { prover: 'gpu', device: 'cpu' },
        });
      }
    }, 120_000);

    it(`--device cpu --method float32 (the fallback of parts without INT8 tensor cores, e.g. a GTX 1080 or a Tesla P4): every phase passes the TypeScript checker`, async () => {
      const r = await runCapacityCheck({
        prover: gpuProverCommand(py, ['--device', 'cpu', '--method', 'float32']),
        claim: {},
        // n = 2,048: two chunks of 1,024 on the inner dimension, so the partial sums are added up
        n: 2048,
        deadlineMs: 120_000,
        memoryMiB: 128,
        exact: true,
        memoryProof: {
          tiles: 2,
          m: 64,
          depth: 2048,
          groups: 256,
          perGroup: 16,
          fillDeadlineMs: 120_000,
          readDeadlineMs: 120_000,
        },
        workProof: { n: 1024 + 64, pool: 2, products: 2, deadlineMs: 120_000, prepareTimeoutMs: 120_000 },
        verifiedWorkRows: 4,
        rng: new SeededRng('gpu-prover-float32'),
        clock: systemClock,
        openTimeoutMs: 120_000,
      });
      expect(r, r.reason).toMatchObject({
        ok: true,
        code: 'passed',
        prover: { prover: 'gpu', device: 'cpu', method: 'float32 matmuls over chunks of 1024 (exact)' },
      });
      // both proofs ran to the end on the fallback (a failed one fails the whole check)
      expect(r.work).toMatchObject({ n: 1088, products: 2 });
      expect(r.work!.workMs).toEqual(expect.any(Number)); // timed (ms; a small read can take 0)
      expect(r.memory).toMatchObject({ tiles: 2, depth: 2048 });
      expect(r.memory!.readMs).toEqual(expect.any(Number));
    }, 240_000);

    it(`--working-mib 1 on PyTorch ${torchPython.version}: the fill's products in blocks of rows and the read in small steps, and every answer still passes the checker`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'aethir-gpu-prover-'));
      const stderr = join(dir, 'stderr');
      try {
        const r = await runCapacityCheck({
          // its stderr kept, for what it says of its steps
          prover: [
            'sh',
            '-c',
            'exec "$@" 2>>"$0"',
            stderr,
            ...gpuProverCommand(py, ['--device', 'cpu', '--working-mib', '1']),
          ],
          claim: {},
          n: 128,
          deadlineMs: 60_000,
          memoryMiB: 8,
          exact: true,
          // 1 MiB of room: a tile's float32-fallback product of 256 x 256 over depth 2,048 takes
          // 7 KiB a row, so 64 rows at a time; a read group of 16 takes 384 B, so 1,365 at a time
          memoryProof: {
            tiles: 3,
            m: 256,
            depth: 2048,
            groups: 4096,
            perGroup: 16,
            fillDeadlineMs: 60_000,
            readDeadlineMs: 60_000,
          },
          rng: new SeededRng('gpu-prover-working-mib'),
          clock: systemClock,
          openTimeoutMs: 60_000,
        });
        expect(r, r.reason).toMatchObject({
          ok: true,
          code: 'passed',
          prover: { prover: 'gpu', device: 'cpu' },
        });
        expect(r.memory).toMatchObject({ tiles: 3, m: 256, depth: 2048 });
        const said = readFileSync(stderr, 'utf8');
        expect(said).toContain(
          "fill: each tile's product in blocks of 64 of its 256 rows (little memory free)",
        );
        expect(said).toContain('read: 1365 groups per step (little memory free)');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 120_000);

    it('--method names one of int8 or float32, else argparse refuses it (exit 2) before anything runs', () => {
      const r = run(py, [GPU_PROVER_SCRIPT, '--device', 'cpu', '--method', 'fp8']);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/invalid choice: 'fp8'/);
    });

    it('--working-mib takes a whole number of at least 1, else argparse refuses it (exit 2) before anything runs', () => {
      for (const [v, why] of [
        ['0', /--working-mib must be at least 1/],
        ['-5', /--working-mib must be at least 1/],
        ['half', /argument --working-mib: invalid int value: 'half'/],
      ] as const) {
        const r = run(py, [GPU_PROVER_SCRIPT, '--device', 'cpu', '--working-mib', v]);
        expect(r.status).toBe(2);
        expect(r.stderr).toMatch(why);
        expect(r.stdout).toBe(''); // no "ready": nothing ran
      }
    });
  } else {
    it.skip(`--device cpu on PyTorch (skipped: no python imports torch: ${torchPython.why})`, () => {});
  }
});
