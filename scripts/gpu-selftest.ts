/**
 * The measuring half of scripts/gpu-selftest.sh (which finds the GPU first): one full-size
 * capacity check of the real PyTorch prover, then its times next to the model's.
 *
 *   node --import tsx scripts/gpu-selftest.ts --model "NVIDIA H100 80GB HBM3" --memory-mib 81559 [--pci-device-id 0x233010DE] [--python python3] [--json] [--device cpu]
 *
 * `--device cpu` runs the prover's arithmetic on the CPU at a tiny size (for testing this script
 * where there is no GPU): its times say nothing about any GPU.
 */
import { parseArgs } from 'node:util';
import { systemClock } from '../src/core/clock.js';
import { nameGpu, pciDeviceId } from '../src/container/gpu-names.js';
import {
  CLASS_ORDER,
  CLASS_PROFILES,
  CLASS_SPECS,
  MODEL,
  bestReadMs,
  bestWorkMs,
  stockOpsPerSec,
  workEfficiencyNeeded,
  honestWorkMs,
  classBelow,
  classOf,
  partOf,
  gpuProverCommand,
  honestComputeMs,
  honestFillMs,
  honestReadMs,
  runCapacityCheck,
  secureRng,
  sizeFor,
  tileBytes,
  heldShare,
} from '../src/capacity/index.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    'pci-device-id': { type: 'string' },
    'memory-mib': { type: 'string' },
    python: { type: 'string', default: 'python3' },
    json: { type: 'boolean', default: false },
    device: { type: 'string', default: 'cuda' },
  },
  strict: true,
});
const named = values.model
  ? nameGpu(values.model, pciDeviceId(values['pci-device-id']))
  : { name: undefined, reportedName: undefined };
const model = named.name;
const memoryMiB = Number(values['memory-mib']);
if (!model || !Number.isSafeInteger(memoryMiB) || memoryMiB <= 0) {
  console.error('gpu-selftest: --model NAME and --memory-mib N (a positive integer) are required');
  process.exit(64);
}
const device = values.device;
if (!/^(cuda(:\d+)?|cpu)$/.test(device)) {
  console.error(`gpu-selftest: --device must be cuda, cuda:N or cpu, not "${device}"`);
  process.exit(64);
}
const tiny = device === 'cpu';
const claim = { model, memoryMiB };
const cls = classOf(claim);
if (cls === 'cpu') throw new Error('unreachable: a model always has a GPU class');
// the part the deadlines are sized for: the model's own figures where classes.ts has them, else the class's reference part
const sizedFor = partOf(claim)!;
const spec = typeof sizedFor === 'string' ? CLASS_SPECS[sizedFor] : sizedFor;
const full = sizeFor(claim);
// --device cpu: the same phases at a size a CPU finishes in seconds, with deadlines it cannot miss
const TINY_MS = 600_000;
const size = tiny ? { ...full, n: 64, deadlineMs: TINY_MS } : full;
const mp =
  tiny && full.memoryProof
    ? {
        ...full.memoryProof,
        ...{ tiles: 2, m: 64, depth: 128, groups: 256, perGroup: 16 },
        ...{ fillDeadlineMs: TINY_MS, readDeadlineMs: TINY_MS },
      }
    : full.memoryProof;
const wp =
  tiny && full.workProof
    ? { ...full.workProof, n: 64, pool: 2, products: 3, deadlineMs: TINY_MS }
    : full.workProof;
const log = (s: string) => {
  if (!values.json) console.log(s);
};
log(
  `gpu-selftest: ${model} (${memoryMiB} MiB): class ${cls}, sized for ${spec.part}${typeof sizedFor === 'string' ? ' (the class’s reference part)' : ' (its own figures)'}`,
);
if (named.reportedName)
  log(
    `  nvidia-smi calls it "${named.reportedName}": named from its PCI device ID ${values['pci-device-id']}`,
  );
if (tiny) log('  --device cpu: the prover runs on the CPU at a tiny size; its times say nothing about a GPU');
log(
  `  compute proof n = ${size.n}, deadline ${size.deadlineMs} ms` +
    (wp
      ? `; throughput proof ${wp.products} products of n = ${wp.n} (pool ${wp.pool}), deadline ${wp.deadlineMs} ms`
      : '') +
    (mp
      ? `; memory proof ${mp.tiles} tiles (${Math.round(tileBytes(mp) / 2 ** 30)} GiB), fill deadline ${mp.fillDeadlineMs} ms, read deadline ${mp.readDeadlineMs} ms`
      : ''),
);
log('  running the prover (the fill takes tens of seconds)…');

const r = await runCapacityCheck({
  prover: gpuProverCommand(
    values.python,
    tiny ? ['--device', 'cpu'] : device !== 'cuda' ? ['--device', device] : [],
  ),
  claim,
  ...(tiny ? { n: size.n, deadlineMs: size.deadlineMs, memoryMiB: null, verifiedWorkRows: 4 } : {}),
  memoryProof: mp ?? null,
  workProof: wp ?? null,
  rng: secureRng(),
  clock: systemClock,
  startupTimeoutMs: 300_000,
  openTimeoutMs: 120_000,
});

const model_ = {
  computeMs: honestComputeMs(spec, size.n),
  fillMs: mp ? honestFillMs(spec, mp.tiles, mp.m, mp.depth) : null,
  readMs: mp ? honestReadMs(spec, mp.groups, mp.perGroup) : null,
  workMs: wp ? honestWorkMs(spec, wp) : null,
};
const below = classBelow(cls);
let belowRead: { ms: number; way: string } | null = null;
if (below && mp)
  belowRead = bestReadMs(CLASS_SPECS[below], mp, heldShare(CLASS_SPECS[below].memoryBytes, tileBytes(mp)));
const measured = {
  computeMs: r.proveMs,
  workMs: r.work?.workMs ?? null,
  fillMs: r.memory?.fillMs ?? null,
  readMs: r.memory?.readMs ?? null,
};
/** the throughput proof against every class below: the lower part's best products over what this part did */
const workBelow =
  wp && measured.workMs !== null
    ? CLASS_ORDER.slice(CLASS_ORDER.indexOf(cls) + 1).map((lower) => {
        const best = bestWorkMs(CLASS_SPECS[lower], wp);
        return {
          gpuClass: lower,
          bestWorkMs: best,
          marginVsDeadline: best / wp.deadlineMs,
          marginVsMeasuredPlusJitter: best / (measured.workMs! + MODEL.workJitterMs),
        };
      })
    : null;
const out = {
  model,
  memoryMiB,
  gpuClass: cls,
  prover: r.prover,
  ok: r.ok,
  code: r.code,
  reason: r.reason,
  device,
  deadlines: {
    computeMs: size.deadlineMs,
    workMs: wp?.deadlineMs ?? null,
    fillMs: mp?.fillDeadlineMs ?? null,
    readMs: mp?.readDeadlineMs ?? null,
  },
  measured,
  modeled: model_,
  /** measured / modeled: > 1 means this part is slower than the model assumes */
  ratio: {
    compute: measured.computeMs !== null ? measured.computeMs / model_.computeMs : null,
    work: measured.workMs !== null && model_.workMs ? measured.workMs / model_.workMs : null,
    fill: measured.fillMs !== null && model_.fillMs ? measured.fillMs / model_.fillMs : null,
    read: measured.readMs !== null && model_.readMs ? measured.readMs / model_.readMs : null,
  },
  /** against the class below (best kernels, modeled): its read over the deadline measured here */
  belowClass:
    below && belowRead && measured.readMs !== null
      ? {
          gpuClass: below,
          bestReadMs: belowRead.ms,
          way: belowRead.way,
          marginVsDeadline: belowRead.ms / mp!.readDeadlineMs,
          marginVsMeasuredPlusJitter: belowRead.ms / (measured.readMs + MODEL.jitterMs),
        }
      : null,
  /** the share of this part's peak (dense INT8, or FP32: workKernel) the stock prover reached in the throughput proof (everything counted) */
  workEfficiency:
    wp && measured.workMs
      ? (1000 * wp.products * 2 * wp.n ** 3) / stockOpsPerSec(spec, 1) / measured.workMs
      : null,
  /** the peak that share is of: dense INT8, or FP32 for a part whose stock prover runs the float32 fallback */
  workKernel: spec.stockKernel === 'float32' ? 'float32' : 'int8',
  /** the share the class's throughput deadline is sized for (classes.ts stockInt8Share) */
  workEfficiencyAssumed: spec.stockInt8Share,
  /** the share this part's stock prover must reach for the throughput proof to separate it from the class below */
  workEfficiencyNeeded: below ? workEfficiencyNeeded(cls, CLASS_SPECS[below]) : null,
  workBelow,
  memoryShare: CLASS_PROFILES[cls].memoryShare,
};
if (values.json) console.log(JSON.stringify(out, null, 2));
else {
  const f = (x: number | null) => (x === null ? '—' : `${x.toFixed(0)} ms`);
  const q = (x: number | null) => (x === null ? '—' : x.toFixed(2));
  console.log(`  ${r.ok ? 'PASSED' : `FAILED (${r.code})`}: ${r.reason}`);
  console.log('  phase      measured   modeled   deadline   measured/modeled');
  console.log(
    `  compute    ${f(measured.computeMs).padStart(8)}  ${f(model_.computeMs).padStart(8)}  ${f(size.deadlineMs).padStart(9)}   ${q(out.ratio.compute)}`,
  );
  console.log(
    `  work       ${f(measured.workMs).padStart(8)}  ${f(model_.workMs).padStart(8)}  ${f(wp?.deadlineMs ?? null).padStart(9)}   ${q(out.ratio.work)}`,
  );
  console.log(
    `  fill       ${f(measured.fillMs).padStart(8)}  ${f(model_.fillMs).padStart(8)}  ${f(mp?.fillDeadlineMs ?? null).padStart(9)}   ${q(out.ratio.fill)}`,
  );
  console.log(
    `  read       ${f(measured.readMs).padStart(8)}  ${f(model_.readMs).padStart(8)}  ${f(mp?.readDeadlineMs ?? null).padStart(9)}   ${q(out.ratio.read)}`,
  );
  if (out.belowClass)
    console.log(
      `  class below (${out.belowClass.gpuClass}, best kernels, modeled): read ${f(out.belowClass.bestReadMs)} (${out.belowClass.way}): margin ${q(out.belowClass.marginVsDeadline)} vs the deadline, ${q(out.belowClass.marginVsMeasuredPlusJitter)} vs this read + ${MODEL.jitterMs} ms jitter`,
    );
  if (out.workEfficiency !== null) {
    const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
    console.log(
      `  throughput proof: ${pct(out.workEfficiency)} of this part's ${out.workKernel === 'float32' ? 'FP32 peak (its stock prover runs the float32 fallback)' : 'dense INT8 peak'} (its deadline assumes ${pct(spec.stockInt8Share)}` +
        (below
          ? out.workEfficiencyNeeded === null
            ? `; no share separates ${cls} from ${below} by throughput)`
            : `; separating ${cls} from ${below} by throughput needs ${pct(out.workEfficiencyNeeded)})`
          : ')'),
    );
    if (!tiny && out.workEfficiency < spec.stockInt8Share)
      console.log(
        `  WARNING: below the assumed ${pct(spec.stockInt8Share)}: honest parts like this one fail their own claim; lower the stockInt8Share of ${spec.part} in src/capacity/classes.ts to what this measures`,
      );
  }
  for (const b of workBelow ?? [])
    console.log(
      `  ${b.gpuClass} at ${Math.round(MODEL.belowPeakFactor * 100)}% of its peak (modeled): products in ${f(b.bestWorkMs)}: margin ${q(b.marginVsDeadline)} vs the deadline, ${q(b.marginVsMeasuredPlusJitter)} vs this run + ${MODEL.workJitterMs} ms jitter`,
    );
  console.log('  the class table: docs/verification.md, "Class margins"');
}
process.exitCode = r.ok ? 0 : 1;
