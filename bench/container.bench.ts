import { spawn } from 'node:child_process';
import { ath } from '../src/core/index.js';
import { parseManifest, subjects } from '../src/container/index.js';
import { describeMissing, probeSandbox } from '../src/container/runtimes/sandbox.js';
import { signReceipt } from '../src/ledger/index.js';
import { TxSender } from '../src/sdk/index.js';
import { benchDevnet } from './fixtures.js';
import { nowNs, percentile, row, type BenchOptions, type Row } from './harness.js';

/**
 * Lease grant -> the first line of output of a session of a ready app (published, pre-installed
 * once; the session runs no install step), in the host-process runtime: from the
 * moment the block holding lease.open is committed to the moment the container publishes the
 * workload's first output line on the bus (what the API streams to the user). The baseline,
 * measured in the same run, is the floor: spawning the same command directly and reading its
 * first line, with no ledger, agent or bus in between.
 */

const COMMAND = ['sh', '-c', 'echo ready'];
const APP = 'bench-app';

function directSpawnMs(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = nowNs();
    const child = spawn(COMMAND[0]!, COMMAND.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout.once('data', () => resolve(Number(nowNs() - t0) / 1e6));
    child.on('error', reject);
  });
}

export async function runContainer(opts: BenchOptions): Promise<Row[]> {
  const n = opts.quick ? 20 : 200;
  const plain = await measure(opts, n, 'none');
  const rows = ([50, 99] as const).map((p) =>
    row({
      suite: 'container',
      name: `ready app: lease grant -> first output line, p${p}`,
      value: percentile(plain.grantMs, p),
      unit: 'ms',
      baseline: percentile(plain.floorMs, p),
      baselineName: 'spawning the same command directly',
      better: 'lower',
    }),
  );
  const probe = await probeSandbox();
  if (!probe.ok) {
    opts.log(
      `container: the lease sandbox cannot run here (${describeMissing(probe.requirements)}): not measured`,
    );
    return rows;
  }
  const boxed = await measure(opts, n, 'sandbox');
  return [
    ...rows,
    ...([50, 99] as const).map((p) =>
      row({
        suite: 'container',
        name: `sandboxed (own uid, bwrap, cgroup, pasta): grant -> first output line, p${p}`,
        value: percentile(boxed.grantMs, p),
        unit: 'ms',
        baseline: percentile(plain.grantMs, p),
        baselineName: 'the same lease unsandboxed (--isolation none)',
        better: 'lower',
      }),
    ),
  ];
}

async function measure(
  opts: BenchOptions,
  n: number,
  isolation: 'none' | 'sandbox',
): Promise<{ grantMs: number[]; floorMs: number[] }> {
  const { node, stop } = await benchDevnet('container', {
    demoContainers: 0,
    containerApps: APP,
    heartbeatIntervalMs: 200,
    containerIsolation: isolation,
  });
  try {
    const { devnet } = node;
    const user = new TxSender(devnet.developer, devnet.network);
    await user.send('escrow.deposit', { amount: ath(1_000) });
    // A ready app: published, pre-installed once by the container; sessions run no install step.
    const manifest = parseManifest({
      name: APP,
      version: '1.0.0',
      install: ['echo weights > weights.txt'],
      run: COMMAND,
    });
    await user.send('app.publish', { name: APP, version: '1.0.0', manifest });
    for (let w = 0; !devnet.agents[0]!.status().apps?.ready.some((a) => a.name === APP); w++) {
      if (w > 600) throw new Error('the app was not installed');
      await new Promise((r) => setTimeout(r, 50));
    }
    const container = devnet.localContainerId();
    const price = devnet.chain.ledger.container(container)!.pricePerHour;
    const grantMs: number[] = [];
    const floorMs: number[] = [];
    opts.log(
      `container: ${n} sessions of a ready app, grant -> first output line (host-process runtime, isolation ${isolation})`,
    );
    for (let i = 0; i < n; i++) {
      let granted = 0n;
      let lease = '';
      const firstLine = new Promise<bigint>((resolve) => {
        const off = devnet.bus.subscribe(subjects.allLeaseOutput, (m, subject) => {
          const e = m as { lease: string; type: string };
          if (e.lease !== lease) return;
          if (e.type === 'stdout' && subject.endsWith('.log')) resolve(nowNs());
          if (e.type !== 'exit') return;
          off();
          // As rent does when it sees the exit: the user signs for what it was served, and the
          // host closes with that receipt at once.
          const l = devnet.chain.ledger.lease(lease)!;
          const at = Math.floor(devnet.now());
          devnet.bus.publish(
            subjects.leaseReceipt(lease),
            signReceipt(devnet.developer, devnet.chain.chainId, {
              lease,
              servedMs: Math.max(1, at - l.openedAt),
              seq: 1,
              at,
            }),
          );
        });
      });
      const offBlock = devnet.onBlock((e) => {
        const open = e.applied.find((a) => a.tx.type === 'lease.open');
        if (open) {
          lease = String(open.result.lease);
          granted = nowNs();
        }
      });
      await user.send('lease.open', {
        container,
        gpus: 0,
        maxDurationSec: 60,
        maxPricePerHour: price,
        workload: { app: APP },
      });
      offBlock();
      const t1 = await Promise.race([
        firstLine,
        new Promise<never>((_, reject) =>
          setTimeout(
            () => reject(new Error(`lease ${lease || '(not opened)'} printed nothing in 30 s`)),
            30_000,
          ).unref(),
        ),
      ]);
      if ((i + 1) % 50 === 0) opts.log(`container: ${i + 1}/${n}`);
      grantMs.push(Number(t1 - granted) / 1e6);
      floorMs.push(await directSpawnMs());
      // The next lease starts on a quiet host: this one closed (the workload exits at once).
      for (let w = 0; devnet.chain.ledger.lease(lease)?.status !== 'closed'; w++) {
        if (w > 2_000) throw new Error(`lease ${lease} did not close`);
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    return { grantMs, floorMs };
  } finally {
    await stop();
  }
}
