import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { HostProcessRuntime } from '../src/container/runtimes/host-process.js';
import type { WorkloadSpec } from '../src/container/runtimes/runtime.js';
import { probeSandbox } from '../src/container/runtimes/sandbox.js';
import { nowNs, percentile, row, type BenchOptions, type Row } from './harness.js';

/**
 * Paused leases, on this machine's host-process runtime (sandboxed where it can): the time from
 * starting a paused lease's workload again in its kept files (a resume after a top-up: in a
 * sandbox every kept file is handed to the new run's uid) to its first output, vs. a fresh
 * lease's start to its first output, for a lease that kept `FILES` small files.
 */
const FILES = 2000;

export async function runPause(opts: BenchOptions): Promise<Row[]> {
  const probe = await probeSandbox();
  const base = mkdtempSync(join('/var/lib', 'aethir-bench-pause-'));
  chmodSync(base, 0o711); // the lease uids must traverse it to their directories
  const rt = new HostProcessRuntime({
    baseDir: join(base, 'leases'),
    ...(probe.ok ? { sandbox: probe.setup } : {}),
  });
  const kind = probe.ok ? 'sandboxed host-process' : 'host-process (no sandbox here)';
  const n = opts.quick ? 3 : 10;
  const first = async (spec: WorkloadSpec): Promise<number> => {
    const t0 = nowNs();
    const w = await rt.start(spec);
    for await (const e of w.events()) if (e.type === 'stdout' || e.type === 'exit') break;
    const ms = Number(nowNs() - t0) / 1e6;
    await w.kill();
    return ms;
  };
  const resumed: number[] = [];
  const fresh: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const leaseId = `bench-pause-${process.pid}-${i}`;
      // a run that leaves FILES files, stopped as a pause stops it (files kept)
      const w = await rt.start({
        leaseId,
        command: [
          'sh',
          '-c',
          `mkdir d; i=0; while [ $i -lt ${FILES} ]; do echo $i > d/$i; i=$((i+1)); done; echo ready; sleep 60`,
        ],
        gpuIndices: [],
      });
      for await (const e of w.events()) if (e.type === 'stdout' || e.type === 'exit') break;
      await w.kill('paused', { keepFiles: true });
      resumed.push(await first({ leaseId, command: ['echo', 'ready'], gpuIndices: [], reuseFiles: true }));
      await rt.removeFiles(leaseId);
      fresh.push(await first({ leaseId: `${leaseId}-fresh`, command: ['echo', 'ready'], gpuIndices: [] }));
    }
  } finally {
    await rt.stopAll();
    rmSync(base, { recursive: true, force: true });
  }
  opts.log(`pause: ${kind}, ${n} rounds`);
  return [
    row({
      suite: 'pause',
      name: `resume in ${FILES} kept files (${kind}): start -> first output, p50`,
      value: percentile(resumed, 50),
      unit: 'ms',
      baseline: percentile(fresh, 50),
      baselineName: `fresh ${kind} lease`,
      better: 'lower',
    }),
  ];
}
