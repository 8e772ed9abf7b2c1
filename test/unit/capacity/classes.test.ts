import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ManualClock, SeededRng } from '../../../src/core/index.js';
import {
  CLASS_ORDER,
  CLASS_PROFILES,
  CLASS_SPECS,
  MEMORY_SHAPE,
  MODEL_SPECS,
  PROVER_WORKING_MIB,
  computeFootprintBytes,
  honestWorkMs,
  partOf,
  specForModel,
  workProofFor,
  PAIRS,
  caughtBelowShare,
  classBelow,
  classOf,
  MODEL,
  tileBytes,
  runCapacityCheck,
  separation,
  sizeFor,
  type CapacityResult,
  type ClassSpec,
  type GpuClassWithSpec,
} from '../../../src/capacity/index.js';
import { NEIGHBOUR_PARTS, marginsTable, partsTable } from '../../../src/capacity/margins-table.js';
import { simulatedClassProver } from '../../../src/container/simulated-gpu.js';
import { parseNvidiaSmiXml } from '../../../src/container/probe.js';

const CSV = new URL('../../../../shared/data/gpu-specs/epoch-ml_hardware.csv', import.meta.url);

/** RFC 4180: quoted fields may hold commas, newlines and doubled quotes. */
function parseCsv(text: string): Array<Record<string, string>> {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  const endField = () => {
    row.push(field);
    field = '';
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') endField();
    else if (c === '\n') {
      endField();
      rows.push(row);
      row = [];
    } else if (c !== '\r') field += c;
  }
  if (field || row.length) {
    endField();
    rows.push(row);
  }
  const [head, ...body] = rows;
  return body.map((r) => Object.fromEntries(head!.map((h, k) => [h, r[k] ?? ''])));
}

describe('class specs: the figures of Epoch AI’s table', () => {
  it('every figure marked epoch is the table’s, for the part it names', () => {
    const table = new Map(parseCsv(readFileSync(CSV, 'utf8')).map((r) => [r['Hardware name']!, r]));
    let checked = 0;
    for (const [cls, s] of Object.entries(CLASS_SPECS)) {
      const row = table.get(s.part);
      expect(row, `${cls}: ${s.part} is a row of the table`).toBeDefined();
      if (s.source.int8 === 'epoch')
        expect(Number(row!['INT8 performance (OP/s)']), `${cls} INT8`).toBe(s.int8OpsPerSec);
      else {
        // the Tesla T4's row has no INT8 figure: the datasheet's, said so in source
        expect(row!['INT8 performance (OP/s)'], cls).toBe('');
        expect(s.source.int8, cls).toMatch(/datasheet/);
      }
      expect(Number(row!['FP32 (single precision) performance (FLOP/s)']), `${cls} FP32`).toBe(
        s.fp32FlopsPerSec,
      );
      expect(Number(row!['Memory bandwidth (byte/s)']), `${cls} bandwidth`).toBe(s.memoryBytesPerSec);
      if (s.source.memory === 'epoch') {
        expect(Number(row!['Memory size per board (Byte)']), `${cls} memory`).toBe(s.memoryBytes);
        checked++;
      } else
        expect(
          row!['Memory size per board (Byte)'],
          `${cls}: the table has no size, so the source says where it is from`,
        ).toBe('');
    }
    expect(checked).toBe(6);
  });

  it('every part of MODEL_SPECS takes the table’s figures where the table has its row, and a source says where each other one is from', () => {
    const table = new Map(parseCsv(readFileSync(CSV, 'utf8')).map((r) => [r['Hardware name']!, r]));
    const num = (v: string | undefined) => (v ? Number(v) : null);
    let rows = 0;
    for (const { spec: s } of MODEL_SPECS) {
      expect(s.stockInt8Share, s.part).toBe(0.5);
      const row = table.get(s.part);
      if (!row) {
        // not in the table (most consumer and small parts): every figure from the maker's documents
        expect(s.source.int8, s.part).toMatch(/datasheet|whitepaper|specifications/);
        expect(s.source.int8, s.part).toMatch(/FP32/);
        expect(s.source.memory, s.part).toMatch(/datasheet|whitepaper|specifications/);
        continue;
      }
      rows++;
      const int8 = num(row['INT8 performance (OP/s)']);
      if (s.source.int8 === 'epoch') expect(int8, `${s.part} INT8`).toBe(s.int8OpsPerSec);
      else {
        expect(int8, `${s.part}: the table has no INT8, so the source says where it is from`).toBeNull();
        expect(s.source.int8, s.part).toMatch(/datasheet|whitepaper|assumed|the table’s/);
      }
      const fp32 = num(row['FP32 (single precision) performance (FLOP/s)']);
      if (fp32 === null) expect(s.source.int8, `${s.part}: FP32 from the datasheet`).toMatch(/FP32/);
      else expect(fp32, `${s.part} FP32`).toBe(s.fp32FlopsPerSec);
      expect(num(row['Memory bandwidth (byte/s)']), `${s.part} bandwidth`).toBe(s.memoryBytesPerSec);
      if (s.source.memory === 'epoch')
        expect(num(row['Memory size per board (Byte)']), `${s.part} memory`).toBe(s.memoryBytes);
      else expect(s.source.memory, s.part).toMatch(/datasheet/);
    }
    expect(rows).toBe(21);
    expect(MODEL_SPECS).toHaveLength(35);
  });

  it('FP16→FP32 figures: the table’s where its column is that figure; the RTX 4090’s column is FP16 accumulate (twice the FP32-accumulate rate) and the RTX 3090 has no tensor figure, so those two come from the whitepapers', () => {
    const table = new Map(parseCsv(readFileSync(CSV, 'utf8')).map((r) => [r['Hardware name']!, r]));
    const col = 'Tensor-FP16/BF16 performance (FLOP/s)';
    for (const cls of ['h200', 'h100', 'a100', 'l40s'] as const) {
      expect(CLASS_SPECS[cls].source.fp16, cls).toBe('epoch');
      expect(Number(table.get(CLASS_SPECS[cls].part)![col]), cls).toBe(
        CLASS_SPECS[cls].fp16Fp32AccFlopsPerSec,
      );
    }
    const r4090 = table.get('NVIDIA GeForce RTX 4090')!;
    expect(Number(r4090[col])).toBe(330e12);
    expect(CLASS_SPECS.rtx4090.fp16Fp32AccFlopsPerSec).toBe(165.2e12);
    expect(CLASS_SPECS.rtx4090.source.fp16).toMatch(/whitepaper.*330 is FP16 accumulate/);
    expect(table.get('NVIDIA GeForce RTX 3090')![col]).toBe('');
    expect(CLASS_SPECS.rtx3090.source.fp16).toMatch(/whitepaper.*no tensor figure/);
    // the same 2.33 either way: the kernel's precision cannot widen the 4090/3090 gap
    const int8 = CLASS_SPECS.rtx4090.int8OpsPerSec / CLASS_SPECS.rtx3090.int8OpsPerSec;
    const fp16 = CLASS_SPECS.rtx4090.fp16Fp32AccFlopsPerSec! / CLASS_SPECS.rtx3090.fp16Fp32AccFlopsPerSec!;
    expect(int8).toBeCloseTo(2.33, 2);
    expect(fp16).toBeCloseTo(2.33, 2);
  });

  it('every stock-prover share is stated with its source; only the RTX 4090’s departs from 50%', () => {
    for (const [cls, s] of Object.entries(CLASS_SPECS)) {
      expect(s.stockInt8Share, cls).toBeGreaterThan(0);
      expect(s.stockInt8Share, cls).toBeLessThanOrEqual(1);
      expect(s.source.stock.length, cls).toBeGreaterThan(10);
      if (cls !== 'rtx4090') expect(s.stockInt8Share, cls).toBe(MODEL.honestEfficiency);
    }
    expect(CLASS_SPECS.rtx4090.stockInt8Share).toBe(0.6);
    expect(CLASS_SPECS.rtx4090.source.stock).toMatch(/unmeasured/);
  });

  it('orders the classes top down; the last has none below', () => {
    expect(CLASS_ORDER.map((c) => classBelow(c))).toEqual([
      'h100',
      'a100',
      'l40s',
      'rtx4090',
      'rtx3090',
      'other',
      null,
    ]);
  });
});

describe('memory proof sizing', () => {
  it('fills share × the claimed memory with 256 MiB tiles, deadlines from the class', () => {
    const h100 = sizeFor({ model: 'NVIDIA H100 80GB HBM3', memoryMiB: 81559 });
    expect(h100.memoryProof).toMatchObject({
      ...MEMORY_SHAPE,
      tiles: Math.floor((81559 * 0.85) / 256), // 270
      fillDeadlineMs: expect.any(Number),
      readDeadlineMs: expect.any(Number),
    });
    expect(h100.memoryProof!.tiles).toBe(270);
    // a round trip is added to both deadlines
    const far = sizeFor({ model: 'NVIDIA H100 80GB HBM3', memoryMiB: 81559 }, { rttMs: 90 });
    expect(far.memoryProof!.readDeadlineMs).toBe(h100.memoryProof!.readDeadlineMs + 90);
    expect(far.memoryProof!.fillDeadlineMs).toBe(h100.memoryProof!.fillDeadlineMs + 90);
    // no memory claimed, or a CPU host: no memory proof
    expect(sizeFor({ gpuClass: 'h100' }).memoryProof).toBeUndefined();
    expect(sizeFor({ memoryMiB: 65536 }).memoryProof).toBeUndefined();
    // less than one tile's worth
    expect(sizeFor({ gpuClass: 'other', memoryMiB: 200 }).memoryProof).toBeUndefined();
  });

  it('docs/verification.md carries the margins table this model computes', () => {
    const doc = readFileSync(new URL('../../../docs/verification.md', import.meta.url), 'utf8');
    // compared cell by cell: prettier pads markdown tables
    const cells = (text: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith('|'))
        .map((l) =>
          l
            .split('|')
            .map((c) => c.trim().replace(/^-+$/, '---'))
            .join('|'),
        )
        .join('\n');
    expect(cells(doc)).toContain(cells(marginsTable()));
    expect(cells(doc)).toContain(cells(partsTable()));
  });

  it('parts that share a class: a 3090 Ti as a 4090 is not separated; honest parts below their class’s reference part would miss its throughput deadline, and meet their own model’s', () => {
    const by = new Map(NEIGHBOUR_PARTS.map((p) => [p.spec.part, p]));
    const ti = by.get('NVIDIA GeForce RTX 3090 Ti')!;
    const m = separation(ti.claims, ti.spec, CLASS_PROFILES[ti.claims].memoryShare);
    expect(m.work).toBeGreaterThan(0.99);
    expect(m.work).toBeLessThan(1);
    expect(m.read).toBeLessThan(1);
    expect(specForModel(ti.spec.part)).toBeNull(); // at or above its class's reference part
    for (const name of [
      'NVIDIA GeForce RTX 4080',
      'NVIDIA GeForce RTX 3080',
      'NVIDIA L4',
      'NVIDIA A10 PCIe',
      'NVIDIA H100 PCIe',
    ]) {
      const p = by.get(name)!;
      expect(p.own, name).toBe(true);
      expect(classOf({ model: name }), name).toBe(p.claims);
      const cls = workProofFor(p.claims);
      expect(honestWorkMs(p.spec, cls) / cls.deadlineMs, name).toBeGreaterThan(1.1);
      const own = workProofFor(p.spec);
      expect(honestWorkMs(p.spec, own) / own.deadlineMs, name).toBeLessThan(1);
    }
  });

  it('a claim is sized from its model’s own figures where MODEL_SPECS has them, names as nvidia-smi gives them', () => {
    const cases: Array<[string, string | null]> = [
      ['NVIDIA A10G', 'NVIDIA A10G'],
      ['NVIDIA A10', 'NVIDIA A10 PCIe'],
      ['NVIDIA A100-PCIE-40GB', 'NVIDIA A100 SXM4 40 GB'],
      ['NVIDIA A100-SXM4-40GB', 'NVIDIA A100 SXM4 40 GB'],
      ['NVIDIA A100 80GB PCIe', 'NVIDIA A100 PCIe'],
      ['NVIDIA A100-SXM4-80GB', null],
      ['NVIDIA H100 PCIe', 'NVIDIA H100 PCIe'],
      ['NVIDIA H100 80GB HBM3', null],
      ['NVIDIA L4', 'NVIDIA L4'],
      ['NVIDIA L40S', null],
      ['NVIDIA RTX A5000', 'NVIDIA RTX A5000'],
      ['NVIDIA GeForce RTX 3080', 'NVIDIA GeForce RTX 3080'],
      ['NVIDIA GeForce RTX 3090', null],
      ['NVIDIA GeForce RTX 4090', null],
    ];
    for (const [name, part] of cases) {
      expect(specForModel(name)?.part ?? null, name).toBe(part);
      const size = sizeFor({ model: name, memoryMiB: 16_384 });
      const expected = part ? specForModel(name)! : CLASS_SPECS[classOf({ model: name }) as GpuClassWithSpec];
      expect(size.workProof, name).toEqual(workProofFor(expected));
    }
    // a model of another class than the one claimed is not taken: the class's reference part is
    expect(sizeFor({ gpuClass: 'h100', model: 'NVIDIA L4' }).workProof).toEqual(workProofFor('h100'));
  });
});

const NOMINAL = (cls: GpuClassWithSpec) => {
  const claim = { gpuClass: cls, memoryMiB: Math.floor(CLASS_SPECS[cls].memoryBytes / 2 ** 20) };
  const size = sizeFor(claim);
  return { claim, size };
};

/** Network jitter at the bound each deadline allows (the worst case for an honest host). */
const WORST_JITTER = (phase: 'compute' | 'work' | 'fill' | 'read') =>
  phase === 'work' ? MODEL.workJitterMs : MODEL.jitterMs;

/**
 * One capacity check of a SIMULATED device of `spec` claiming `cls` with that class's full memory:
 * the deadlines are the full-size challenge's, the work proven for real a small one (n = 64; 3
 * products of n = 64 from a pool of 2; 4 tiles of 64², 512 groups of 16).
 */
async function check(
  cls:
    | GpuClassWithSpec
    | { model: string; memoryMiB: number }
    | { gpuClass: GpuClassWithSpec; memoryMiB: number },
  spec: ClassSpec,
  kernels: 'stock' | 'best',
  seed: string,
  jitterMs?: (phase: 'compute' | 'work' | 'fill' | 'read') => number,
): Promise<CapacityResult> {
  const { claim, size } = typeof cls === 'string' ? NOMINAL(cls) : { claim: cls, size: sizeFor(cls) };
  const clock = new ManualClock();
  // no memory proof for a claim too small to leave the prover its working room (2 GB cards)
  const mp = size.memoryProof;
  const wp = size.workProof!;
  return runCapacityCheck({
    prover: simulatedClassProver({
      spec,
      clock,
      nominal: { n: size.n, ...(mp ? { memoryProof: mp } : {}), workProof: wp },
      kernels,
      ...(jitterMs ? { jitterMs } : {}),
    })(),
    claim,
    n: 64,
    memoryMiB: null,
    workProof: { ...wp, n: 64, pool: 2, products: 3 },
    verifiedWorkRows: 4,
    memoryProof: mp ? { ...mp, tiles: 4, m: 64, depth: 128, groups: 512, perGroup: 16 } : null,
    rng: new SeededRng(seed),
    clock,
  });
}

describe('SIMULATED devices of each class (figures of CLASS_SPECS, times of margins.ts)', () => {
  it('an honest device of each class, running the stock prover, passes its own class with jitter at its bound on every answer', async () => {
    for (const cls of CLASS_ORDER) {
      const r = await check(cls, CLASS_SPECS[cls], 'stock', `honest-${cls}`, WORST_JITTER);
      expect(r, `${cls}: ${r.reason}`).toMatchObject({ ok: true, code: 'passed' });
      expect(r.proveMs!).toBeLessThanOrEqual(r.deadlineMs);
      expect(r.work!.workMs!).toBeLessThanOrEqual(r.work!.deadlineMs);
      expect(r.work!.workMs!).toBeGreaterThan(2_900);
      expect(r.memory!.readMs!).toBeLessThanOrEqual(r.memory!.readDeadlineMs);
    }
  });

  it('an honest device of each part of MODEL_SPECS, claiming its own model and memory, passes with jitter at its bound; sized from its class’s reference part, the H100 PCIe, L4 and RTX 4080 failed', async () => {
    for (const { spec } of MODEL_SPECS) {
      const memoryMiB = Math.floor(spec.memoryBytes / 2 ** 20);
      const r = await check({ model: spec.part, memoryMiB }, spec, 'stock', `own-${spec.part}`, WORST_JITTER);
      expect(r, `${spec.part}: ${r.reason}`).toMatchObject({ ok: true, code: 'passed' });
    }
    for (const part of [
      'NVIDIA H100 PCIe',
      'NVIDIA L4',
      'NVIDIA GeForce RTX 4080',
      // below the `other` class's Tesla T4: INT8 tensor cores but fewer, no INT8 tensor cores at all
      'NVIDIA GeForce RTX 3060',
      'NVIDIA GeForce GTX 1080',
      'NVIDIA Tesla P4',
      'NVIDIA Tesla V100 PCIe 16 GB',
      'NVIDIA GeForce GT 1030',
    ]) {
      const spec = specForModel(part)!;
      const cls = classOf({ model: part }) as GpuClassWithSpec;
      const memoryMiB = Math.floor(spec.memoryBytes / 2 ** 20);
      const r = await check({ gpuClass: cls, memoryMiB }, spec, 'stock', `class-${part}`);
      expect(r.ok, `${part} sized as ${cls}: ${r.reason}`).toBe(false);
    }
  });

  it('every GPU of the real nvidia-smi outputs (../shared/data/nvidia-smi/xml), claiming the name and memory the probe reads from it, is sized for its own model where MODEL_SPECS has it and passes with its stock prover (SIMULATED at those figures)', async () => {
    const dir = new URL('../../../../shared/data/nvidia-smi/xml/', import.meta.url);
    const sizedFor: Record<string, string | null> = {
      'NVIDIA GeForce RTX 3090': null,
      'NVIDIA A100-SXM4-80GB': null,
      'NVIDIA A10G': 'NVIDIA A10G',
      'NVIDIA GeForce RTX 2070': 'NVIDIA GeForce RTX 2070',
      'NVIDIA GeForce RTX 2080': null, // 161 INT8 TOPS and 448 GB/s: above the T4 in both
      'NVIDIA RTX A5000': 'NVIDIA RTX A5000',
      'NVIDIA GeForce GT 1030': 'NVIDIA GeForce GT 1030',
      'GeForce GTX 1070 Ti': 'NVIDIA GeForce GTX 1070 Ti',
      // its driver says "Graphics Device"; the probe names it from its PCI device ID (gpu-names.ts)
      'NVIDIA GeForce GTX 1660': 'NVIDIA GeForce GTX 1660',
      'NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition': null,
      'Quadro P2000': 'NVIDIA Quadro P2000',
      'Quadro P400': 'NVIDIA Quadro P400',
      'NVIDIA GeForce RTX 3060': 'NVIDIA GeForce RTX 3060',
      'NVIDIA GeForce RTX 3080': 'NVIDIA GeForce RTX 3080',
      'NVIDIA RTX 4000 SFF Ada Generation': 'NVIDIA RTX 4000 SFF Ada Generation',
      'Tesla T4': null, // the `other` class's own part
      'GRID P4-1Q': 'NVIDIA Tesla P4', // a 1 GB vGPU profile of a P4
    };
    const seen = new Set<string>();
    for (const file of readdirSync(dir)) {
      for (const gpu of parseNvidiaSmiXml(readFileSync(new URL(file, dir), 'utf8'))) {
        seen.add(gpu.name);
        expect(gpu.name in sizedFor, `${file}: ${gpu.name} is listed here`).toBe(true);
        expect(specForModel(gpu.name)?.part ?? null, `${file}: ${gpu.name}`).toBe(sizedFor[gpu.name]);
        const claim = { model: gpu.name, memoryMiB: gpu.memoryMiB };
        const part = partOf(claim)!;
        // a part without an entry is at least its class's reference part, with the memory it reports
        const spec =
          typeof part === 'string'
            ? {
                ...CLASS_SPECS[part],
                memoryBytes: Math.max(CLASS_SPECS[part].memoryBytes, gpu.memoryMiB * 2 ** 20),
              }
            : part;
        const r = await check(claim, spec, 'stock', `smi-${file}-${gpu.index}`, WORST_JITTER);
        expect(r, `${file}: ${gpu.name} (${gpu.memoryMiB} MiB): ${r.reason}`).toMatchObject({
          ok: true,
          code: 'passed',
        });
      }
    }
    expect([...seen].sort()).toEqual(Object.keys(sizedFor).sort());
    // the vGPU profile's 1 GB: products and the compute proof small enough for it
    const vgpu = sizeFor({ model: 'GRID P4-1Q', memoryMiB: 1024 });
    expect(vgpu.n).toBe(4096);
    expect(vgpu.workProof!.n).toBe(4096);
    expect(computeFootprintBytes(specForModel('GRID P4-1Q')!, vgpu.n)).toBeLessThanOrEqual(2 ** 29);
    // tiles leave the stock prover PROVER_WORKING_MIB: none on 1 or 2 GB, 75% of 8 GB, 85% from 16 GB on
    expect(vgpu.memoryProof).toBeUndefined();
    expect(sizeFor({ model: 'NVIDIA GeForce GT 1030', memoryMiB: 1998 }).memoryProof).toBeUndefined();
    expect(sizeFor({ model: 'NVIDIA GeForce RTX 2070', memoryMiB: 8192 }).memoryProof!.tiles).toBe(24);
    expect(sizeFor({ model: 'NVIDIA GeForce GTX 1660', memoryMiB: 5912 }).memoryProof!.tiles).toBe(
      Math.floor((5912 - PROVER_WORKING_MIB) / 256),
    );
    for (const [model, mib] of [
      ['Tesla T4', 15360],
      ['NVIDIA GeForce RTX 3090', 24576],
    ] as const)
      expect(sizeFor({ model, memoryMiB: mib }).memoryProof!.tiles, model).toBe(
        Math.floor((mib * 0.85) / 256),
      );
  });

  it('an honest device whose answers come later than the jitter bound fails the throughput proof', async () => {
    const r = await check('h100', CLASS_SPECS.h100, 'stock', 'late-h100', (phase) =>
      phase === 'work' ? MODEL.workJitterMs + 2 : 0,
    );
    expect(r).toMatchObject({ ok: false, code: 'throughput' });
  });

  it('the next class down with the best kernels (5% over its datasheet peak) and no jitter at all fails where the model separates the pair: the throughput proof (H100/A100, 4090/3090) or the memory proof (H200/H100, A100/L40S, L40S/4090, 3090/other)', async () => {
    const verdicts: Record<string, string> = {};
    for (const cls of PAIRS) {
      const below = classBelow(cls)!;
      const r = await check(cls, CLASS_SPECS[below], 'best', `cheat-${cls}`);
      verdicts[`${cls}/${below}`] = r.code;
      const m = separation(cls, CLASS_SPECS[below], CLASS_PROFILES[cls].memoryShare);
      expect(r.ok, `${cls}/${below}: ${r.reason}`).toBe(!(m.work > 1 || m.read > 1));
      if (r.code === 'throughput')
        expect(r.reason).toMatch(/past their deadline of \d+ ms: slower than the claimed class/);
      if (r.code === 'memory')
        expect(r.reason).toMatch(
          /the read took \d+(\.\d+)? ms, past its deadline of \d+ ms: the tiles are not all held on the device/,
        );
    }
    expect(verdicts).toEqual({
      'h200/h100': 'memory',
      'h100/a100': 'throughput',
      'a100/l40s': 'memory',
      'l40s/rtx4090': 'memory',
      'rtx4090/rtx3090': 'throughput',
      'rtx3090/other': 'memory',
    });
  });

  it('every class further down, with the best kernels, fails as the model says: none passes a higher claim', async () => {
    const passing: string[] = [];
    for (const [i, cls] of CLASS_ORDER.entries())
      for (const lower of CLASS_ORDER.slice(i + 1)) {
        const r = await check(cls, CLASS_SPECS[lower], 'best', `cheat-${cls}-${lower}`);
        const m = separation(cls, CLASS_SPECS[lower], CLASS_PROFILES[cls].memoryShare);
        expect(r.ok, `${lower} as ${cls}: ${r.reason}`).toBe(!(m.work > 1 || m.read > 1));
        if (r.ok) passing.push(`${lower} as ${cls}`);
      }
    expect(passing).toEqual([]);
  });

  it('an RTX 4090 whose stock prover reaches less than the 60% its deadline assumes fails its own class: what the 4090/3090 separation costs if the assumption is wrong', async () => {
    const pass = await check('rtx4090', CLASS_SPECS.rtx4090, 'stock', 'r4090-60', WORST_JITTER);
    expect(pass, pass.reason).toMatchObject({ ok: true, code: 'passed' });
    for (const share of [0.58, 0.55, 0.5]) {
      const slow = { ...CLASS_SPECS.rtx4090, stockInt8Share: share };
      const r = await check('rtx4090', slow, 'stock', `r4090-${share}`);
      expect(r, `${share}: ${r.reason}`).toMatchObject({ ok: false, code: 'throughput' });
    }
  });

  it('the 4090/3090 margin is the published INT8 ratio × the stock share ÷ the 5% over peak, less the allowances (jitter, the host, the passes around each GEMM)', () => {
    const wp = sizeFor({ gpuClass: 'rtx4090' }).workProof!;
    const ratio = CLASS_SPECS.rtx4090.int8OpsPerSec / CLASS_SPECS.rtx3090.int8OpsPerSec;
    const ceiling = (ratio * CLASS_SPECS.rtx4090.stockInt8Share) / MODEL.belowPeakFactor;
    const m = separation('rtx4090', CLASS_SPECS.rtx3090, CLASS_PROFILES.rtx4090.memoryShare).work;
    expect(ceiling).toBeCloseTo(1.33, 2);
    expect(m).toBeGreaterThan(1.1);
    expect(m).toBeLessThan(ceiling);
    // the 3090 would meet the deadline only running ≥ 17% over its datasheet's dense INT8 peak
    const overclock =
      (wp.products * 2 * wp.n ** 3 * 1000) / (wp.deadlineMs * CLASS_SPECS.rtx3090.int8OpsPerSec);
    expect(overclock).toBeCloseTo(m * MODEL.belowPeakFactor, 6);
    expect(overclock).toBeGreaterThan(1.17);
  });

  it('a device of each class holding 5 points less of the tiles than its class is caught below (caughtBelowShare) fails the memory proof', async () => {
    for (const cls of CLASS_ORDER) {
      const mp = NOMINAL(cls).size.memoryProof!;
      const share = caughtBelowShare(cls, CLASS_PROFILES[cls].memoryShare) - 0.05;
      expect(share, cls).toBeGreaterThan(0.3);
      const spec = { ...CLASS_SPECS[cls], memoryBytes: (share * tileBytes(mp)) / MODEL.cheaterMemoryShare };
      const r = await check(cls, spec, 'best', `less-${cls}`);
      expect(r, `${cls}: ${r.reason}`).toMatchObject({ ok: false, code: 'memory' });
    }
  });
});
