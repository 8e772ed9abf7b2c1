import type { FastifyInstance } from 'fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApiServer } from '../src/api/server.js';
import { MemoryBus } from '../src/bus/bus.js';
import { issueChallenge, CAPACITY_PROTOCOL_VERSION } from '../src/capacity/index.js';
import { serveChecks } from '../src/container/check-server.js';
import { subjects } from '../src/bus/subjects.js';
import { ath, generateKeyPair, loadConfig, ManualClock, SeededRng, systemClock } from '../src/core/index.js';
import { Devnet } from '../src/node/devnet.js';
import { devnetBackend } from '../src/node/devnet-backend.js';
import { HttpBus } from '../src/sdk/http-bus.js';
import { TxSender } from '../src/sdk/index.js';
import { benchDevnet } from './fixtures.js';
import { nowNs, percentile, row, type BenchOptions, type Row } from './harness.js';

/**
 * How fast checks are answered, where the tests only assert that they are (test/unit/container/
 * check-server.test.ts, test/unit/sdk/http-bus-serve.test.ts, test/e2e/failover.test.ts):
 *  - a probe while the container's spawned prover proves (n = 1024), against a probe of the idle
 *    check server: the prover runs in its own process, so the event loop stays free;
 *  - a probe relayed by the API node to a container joined over HTTP (SSE out, signed telemetry
 *    back), and a request to a container nobody serves (no responder), against a probe on the
 *    node's own bus;
 *  - the outage of a container serving a lease, from the cut to the lease closed by the ledger,
 *    against offlineAfterMs (the silence the checkers must see before they vote it down).
 */

const ms = (t0: bigint) => Number(nowNs() - t0) / 1e6;
const NONCE = '00112233445566778899aabbccddeeff';
const probe = { op: 'probe', checker: 'bench', nonce: NONCE };

async function timed(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = nowNs();
    await fn().catch(() => undefined);
    out.push(ms(t0));
  }
  return out;
}

async function probeWhileProving(opts: BenchOptions): Promise<Row[]> {
  const rounds = opts.quick ? 2 : 5;
  const bus = new MemoryBus({ validate: true });
  const stop = serveChecks(bus, 'c1');
  const idle: number[] = [];
  const busy: number[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      idle.push(...(await timed(20, () => bus.request('check.c1', probe))));
      const session = `s${r}`;
      const step = (message: unknown) =>
        bus.request(
          'check.c1',
          { op: 'capacity', checker: 'bench', session, message },
          { timeoutMs: 120_000 },
        );
      await step({ type: 'start' });
      let proved = false;
      const proving = step({
        type: 'challenge',
        version: CAPACITY_PROTOCOL_VERSION,
        ...issueChallenge(new SeededRng(r), new ManualClock(), { n: 1024, deadlineMs: 120_000 }),
      }).finally(() => (proved = true));
      for (let i = 0; i < 20 && !proved; i++)
        busy.push(...(await timed(1, () => bus.request('check.c1', probe))));
      await proving;
      await step({ type: 'end' });
      opts.log(`checks: probes while proving, round ${r + 1}/${rounds}`);
    }
  } finally {
    stop();
  }
  return ([50, 99] as const).map((p) =>
    row({
      suite: 'checks',
      name: `probe while the spawned prover proves n = 1024, p${p}`,
      value: percentile(busy, p),
      unit: 'ms',
      baseline: percentile(idle, p),
      baselineName: 'a probe of the idle check server',
      better: 'lower',
    }),
  );
}

async function httpRelay(opts: BenchOptions): Promise<Row[]> {
  const n = opts.quick ? 20 : 200;
  const home = mkdtempSync(join(tmpdir(), 'aethir-bench-checks-'));
  const config = loadConfig({
    env: { AETHIR_HOME: home },
    flags: { port: 0, dataDir: join(home, 'devnet'), demoContainers: 0 },
  });
  const devnet = await Devnet.start({ config });
  let api: FastifyInstance | undefined;
  let http: HttpBus | undefined;
  const unserve: Array<() => void> = [];
  try {
    api = await createApiServer(devnetBackend(devnet), { bus: devnet.bus, checkTimeoutMs: 5_000 });
    await api.listen({ port: 0, host: '127.0.0.1' });
    const addr = api.server.address();
    const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    const key = generateKeyPair();
    http = new HttpBus({ base: url, key, chainId: devnet.chain.chainId, clock: systemClock });
    http.serve(subjects.check(key.address), () => ({ ok: true }));
    const local = generateKeyPair().address;
    unserve.push(devnet.bus.serve(subjects.check(local), () => ({ ok: true })));
    for (let w = 0; ; w++) {
      const ok = await devnet.bus
        .request(subjects.check(key.address), probe, { timeoutMs: 100 })
        .then(() => true)
        .catch(() => false);
      if (ok) break;
      if (w > 300) throw new Error('the HTTP-joined container was never served');
      await new Promise((r) => setTimeout(r, 20));
    }
    opts.log(`checks: ${n} probes relayed over HTTP, to nobody, and on the node's bus`);
    const relayed = await timed(n, () => devnet.bus.request(subjects.check(key.address), probe));
    const nobody = await timed(n, () =>
      devnet.bus.request(subjects.check(generateKeyPair().address), probe, { timeoutMs: 60_000 }),
    );
    const direct = await timed(n, () => devnet.bus.request(subjects.check(local), probe));
    const rows: Row[] = [];
    for (const p of [50, 99] as const) {
      const base = percentile(direct, p);
      rows.push(
        row({
          suite: 'checks',
          name: `probe relayed to a container joined over HTTP, p${p}`,
          value: percentile(relayed, p),
          unit: 'ms',
          baseline: base,
          baselineName: "a probe served on the node's own bus",
          better: 'lower',
        }),
        row({
          suite: 'checks',
          name: `request to an unserved container fails (no responder), p${p}`,
          value: percentile(nobody, p),
          unit: 'ms',
          baseline: base,
          baselineName: "a probe served on the node's own bus",
          better: 'lower',
        }),
      );
    }
    return rows;
  } finally {
    for (const u of unserve) u();
    await http?.close(200);
    await api?.close();
    await devnet.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

async function outage(opts: BenchOptions): Promise<Row[]> {
  const runs = opts.quick ? 1 : 3;
  const offlineAfterMs = 1_000;
  const closeMs: number[] = [];
  for (let r = 0; r < runs; r++) {
    const { node, stop } = await benchDevnet('outage', {
      demoContainers: 1,
      heartbeatIntervalMs: 200,
      offlineAfterMs,
      checkIntervalMs: 200,
    });
    try {
      const d = node.devnet;
      const container = d.agents[0]!.id;
      for (let w = 0; d.chain.ledger.container(container)?.status !== 'online'; w++) {
        if (w > 1_500) throw new Error('the container never came online');
        await new Promise((res) => setTimeout(res, 20));
      }
      const user = new TxSender(d.developer, d.network);
      await user.send('escrow.deposit', { amount: ath(10) });
      const opened = await user.send('lease.open', {
        container,
        gpus: 0,
        maxDurationSec: 600,
        maxPricePerHour: d.chain.ledger.container(container)!.pricePerHour,
        workload: { command: ['sleep', '120'] },
      });
      const lease = String(opened.result.lease);
      await new Promise((res) => setTimeout(res, 1_000));
      const t0 = nowNs();
      d.agents[0]!.partition();
      for (let w = 0; d.chain.ledger.lease(lease)?.status !== 'closed'; w++) {
        if (w > 3_000) throw new Error(`lease ${lease} was not closed after the outage`);
        await new Promise((res) => setTimeout(res, 10));
      }
      closeMs.push(ms(t0));
      opts.log(
        `checks: outage ${r + 1}/${runs}: lease closed ${Math.round(closeMs.at(-1)!)} ms after the cut`,
      );
    } finally {
      await stop();
    }
  }
  return [
    row({
      suite: 'checks',
      name: 'outage while serving: the cut -> the lease closed by the ledger, median',
      value: percentile(closeMs, 50),
      unit: 'ms',
      baseline: offlineAfterMs,
      baselineName: 'offlineAfterMs (the silence checkers must see)',
      better: 'lower',
    }),
  ];
}

export async function runChecks(opts: BenchOptions): Promise<Row[]> {
  return [...(await probeWhileProving(opts)), ...(await httpRelay(opts)), ...(await outage(opts))];
}
