import { cpus } from 'node:os';
import type { BenchOptions, Row } from './harness.js';
import { runSignatures } from './signatures.bench.js';
import { runStateRoot } from './state-root.bench.js';
import { runLedger } from './ledger.bench.js';
import { runIndexer } from './indexer.bench.js';
import { runLedgerScale } from './ledger-scale.bench.js';
import { runScaleOut } from './scale-out.bench.js';
import { runContainer } from './container.bench.js';
import { runCapacity } from './capacity.bench.js';
import { runLocation } from './location.bench.js';
import { runChecks } from './checks.bench.js';
import { runGaming } from './gaming.bench.js';
import { runAccess } from './access.bench.js';
import { runPause } from './pause.bench.js';
import { runVolumes } from './volumes.bench.js';
import { runMarkets } from './markets.bench.js';
import { runCli } from './cli.bench.js';

/**
 * npm run bench [-- [--quick] [--million] [--json] [name...]]
 *
 * Runs the benchmark suites (all, or those whose name contains one of the given names) and
 * prints every figure next to a baseline measured in the same run, with their ratio.
 * Progress goes to stderr; the table, or with --json the JSON document, to stdout.
 */

interface Suite {
  name: string;
  description: string;
  run: (opts: BenchOptions) => Row[] | Promise<Row[]>;
}

const SUITES: Suite[] = [
  {
    name: 'signatures',
    description: 'ed25519 sign/verify, cached vs. per-call KeyObjects',
    run: runSignatures,
  },
  { name: 'state-root', description: 'LedgerState root, cached leaves vs. full rehash', run: runStateRoot },
  { name: 'ledger', description: 'Ledger.apply, Chain.submit (SQLite), verifyChain', run: runLedger },
  {
    name: 'markets',
    description: 'lease cycles on a host with reserved GPUs, and a preempting cycle, vs plain lease cycles',
    run: runMarkets,
  },
  {
    name: 'ledger-scale',
    description:
      'group commit vs. ed25519 verify, apply-only, memory of 1M accounts, replay of 1M txs (--million)',
    run: runLedgerScale,
  },
  { name: 'indexer', description: 'Indexer.match latency/throughput vs. a naive matcher', run: runIndexer },
  {
    name: 'container',
    description: 'lease grant -> first output line in the host-process runtime vs. a bare spawn',
    run: runContainer,
  },
  {
    name: 'access',
    description:
      'first output with a cached image vs host-process; cp throughput vs tar over a socket; shell keystroke round trip vs a local pty',
    run: runAccess,
  },
  {
    name: 'pause',
    description: "a paused lease's resume in its kept files vs. a fresh lease: start -> first output",
    run: runPause,
  },
  {
    name: 'volumes',
    description:
      'write throughput into a loop-mounted volume vs a plain directory; remount vs first provisioning',
    run: runVolumes,
  },
  {
    name: 'capacity',
    description: 'Proof of Capacity: spot-check cost vs. proving cost (CPU prover), checks/s vs. proofs/s',
    run: runCapacity,
  },
  {
    name: 'cli',
    description: "a CLI command's start to exit vs importing the layers' index.js barrels alone",
    run: runCli,
  },
  {
    name: 'location',
    description: 'location check: judgeLocation/s vs distance alone; detection on real WonderProxy RTTs',
    run: runLocation,
  },
  {
    name: 'checks',
    description:
      'a probe while proving vs idle, relayed over HTTP vs the node bus, an outage to its lease closed vs offlineAfterMs',
    run: runChecks,
  },
  {
    name: 'gaming',
    description:
      'cloud gaming: input-to-photon p50/p99 of a streamed 720p30 (and 360p) VP8 session in Chromium vs the game in the page, fps, encode ms/frame, bitrate',
    run: runGaming,
  },
  {
    name: 'scale-out',
    description: 'JetStream log to a replica in a 2nd process, rent latency through NATS, vs. embedded',
    run: runScaleOut,
  },
];

const USAGE = `usage: npm run bench -- [--quick] [--million] [--json] [name...]

  --quick   a short smoke run: small time boxes, few iterations, smaller data sets
  --million measure what the normal run extrapolates at full size (ledger-scale: replaying
            1,000,000 transactions; takes several minutes)
  --json    print the results as JSON on stdout (progress still goes to stderr)
  name      run only the suites whose name contains it: ${SUITES.map((s) => s.name).join(', ')}

ratio = times better than the baseline measured in the same run
        (value/baseline for rates, baseline/value for times): above 1 wins, below 1 costs.`;

interface Args {
  quick: boolean;
  million: boolean;
  json: boolean;
  filters: string[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, million: false, json: false, filters: [] };
  for (const a of argv) {
    if (a === '--quick' || a === '-q') args.quick = true;
    else if (a === '--json') args.json = true;
    else if (a === '--million') args.million = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else if (a.startsWith('-')) fail(`unknown option ${a}`);
    else args.filters.push(a.toLowerCase());
  }
  return args;
}

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n\n${USAGE}\n`);
  process.exit(2);
}

/** 12345.6 -> "12,346"; 12.345 -> "12.3"; 0.01234 -> "0.0123" */
function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 100) return Math.round(v).toLocaleString('en-US');
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

function formatRatio(r: number): string {
  if (!Number.isFinite(r)) return 'n/a';
  return `${r >= 10 ? r.toFixed(1) : r >= 0.1 ? r.toFixed(2) : r.toPrecision(2)}x`;
}

function table(rows: Row[]): string {
  const head = ['suite', 'benchmark', 'value', 'baseline', 'ratio', 'baseline is'];
  const body = rows.map((r) => [
    r.suite,
    r.name,
    `${formatNumber(r.value)} ${r.unit}`,
    `${formatNumber(r.baseline)} ${r.unit}`,
    formatRatio(r.ratio),
    r.baselineName,
  ]);
  const right = new Set([2, 3, 4]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const selected = args.filters.length
    ? SUITES.filter((s) => args.filters.some((f) => s.name.includes(f)))
    : SUITES;
  if (selected.length === 0) fail(`no suite matches ${args.filters.map((f) => `"${f}"`).join(', ')}`);

  const started = performance.now();
  const log = (line: string) => {
    const t = ((performance.now() - started) / 1000).toFixed(1).padStart(5);
    process.stderr.write(`[${t}s] ${line}\n`);
  };
  const opts: BenchOptions = { quick: args.quick, million: args.million, log };
  const cpu = cpus();
  const env = {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
  };
  log(
    `${args.quick ? 'quick' : 'full'} run of ${selected.map((s) => s.name).join(', ')} ` +
      `on ${env.cpu} (${env.cores} cores), node ${env.node}`,
  );

  const rows: Row[] = [];
  for (const s of selected) {
    const t0 = performance.now();
    rows.push(...(await s.run(opts)));
    log(`${s.name}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const elapsedMs = performance.now() - started;

  if (args.json) {
    process.stdout.write(
      `${JSON.stringify({ ...env, quick: args.quick, million: args.million, suites: selected.map((s) => s.name), elapsedMs: Math.round(elapsedMs), rows }, null, 2)}\n`,
    );
    return;
  }
  process.stdout.write(
    [
      '',
      `Aethir benchmarks: ${args.quick ? 'quick' : 'full'} run, node ${env.node}, ${env.cpu} x${env.cores}, ` +
        `${(elapsedMs / 1000).toFixed(1)} s`,
      '',
      table(rows),
      '',
      'ratio: times better than the baseline measured in this run (value/baseline for rates,',
      'baseline/value for times); above 1 the measured code is faster, below 1 it costs more.',
      '',
    ].join('\n'),
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
