import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nowNs, percentile, row, type BenchOptions, type Row } from './harness.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BIN = join(ROOT, 'bin/aethir.js');

/**
 * The CLI's start-up: a command's start to its exit (compiled dist/, as `npm test` and a checkout
 * run it), against, in the same rounds, a process that only imports the layers' index.js barrels
 * the commands loaded before src/ imported each name from its own module (core, sdk, bus: NATS,
 * ws, YAML, libsodium), and a bare `node -e 0`.
 */
export function runCli(opts: BenchOptions): Row[] {
  const built = spawnSync(process.execPath, [join(ROOT, 'scripts/build-cli.mjs'), '--quiet'], {
    encoding: 'utf8',
  });
  if (built.status !== 0) throw new Error(`cli bench: build-cli failed: ${built.stderr}`);
  const home = mkdtempSync(join(tmpdir(), 'aethir-bench-cli-'));
  const env = { ...process.env, AETHIR_HOME: home };
  const barrels = ['core', 'sdk', 'bus']
    .map((l) => `await import(${JSON.stringify(join(ROOT, 'dist', l, 'index.js'))});`)
    .join(' ');
  const runs: Record<string, string[]> = {
    'keys ls': [BIN, 'keys', 'ls'],
    'rent --help': [BIN, 'rent', '--help'],
    barrels: ['--input-type=module', '-e', barrels],
    node: ['-e', '0'],
  };
  const ms: Record<string, number[]> = Object.fromEntries(Object.keys(runs).map((k) => [k, []]));
  const n = opts.quick ? 3 : 15;
  try {
    for (let i = 0; i < n + 1; i++)
      for (const [k, args] of Object.entries(runs)) {
        const t0 = nowNs();
        const r = spawnSync(process.execPath, args, { env, encoding: 'utf8' });
        const took = Number(nowNs() - t0) / 1e6;
        if (r.status !== 0) throw new Error(`cli bench: ${k} exited ${r.status}: ${r.stderr}`);
        if (i > 0) ms[k]!.push(took); // the first round warms the file cache
      }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
  const p50 = (k: string) => percentile(ms[k]!, 0.5);
  opts.log(
    `cli: ${n} rounds, median ms: ${Object.keys(runs)
      .map((k) => `${k} ${p50(k).toFixed(0)}`)
      .join(', ')}`,
  );
  const out: Row[] = [];
  for (const cmd of ['keys ls', 'rent --help'])
    out.push(
      row({
        suite: 'cli',
        name: `aethir ${cmd}: start to exit, median`,
        value: p50(cmd),
        unit: 'ms',
        baseline: p50('barrels'),
        baselineName: 'node importing only the core, sdk and bus index.js (what every command loaded before)',
        better: 'lower',
      }),
    );
  out.push(
    row({
      suite: 'cli',
      name: 'aethir keys ls: start to exit, median, against a bare node',
      value: p50('keys ls'),
      unit: 'ms',
      baseline: p50('node'),
      baselineName: 'node -e 0',
      better: 'lower',
    }),
  );
  return out;
}
