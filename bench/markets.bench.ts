import { ath, keyPairFromSeed, type KeyPair } from '../src/core/index.js';
import { Ledger, parseGenesis, signTx, type TxType } from '../src/ledger/index.js';
import { interleaved, opsPerSec, row, type BenchOptions, type Row } from './harness.js';

/**
 * Reserved and interruptible capacity on the ledger: a lease.open + lease.close cycle on a host
 * whose GPUs are partly reserved (lease.open then looks for ended reservations among all of them)
 * and a preempting cycle (an interruptible lease, then an on-demand lease that preempts it), each
 * against the same cycle on a plain host of a ledger without reservations, measured in one run.
 */

const T0 = 1_700_000_000_000;
const CHAIN_ID = 'aethir-bench-markets';
const H100 = 'NVIDIA H100 80GB HBM3';

interface Net {
  ledger: Ledger;
  tx(k: KeyPair, type: TxType, payload: Record<string, unknown>): Record<string, unknown>;
}

function net(hosts: KeyPair[], users: KeyPair[], checkers: KeyPair[]): Net {
  const ledger = Ledger.fromGenesis(
    parseGenesis({
      chainId: CHAIN_ID,
      time: T0,
      allocations: [...hosts, ...users].map((k, i) => ({
        address: k.address,
        amount: ath(10_000_000).toString(),
        label: `k${i}`,
      })),
      checkers: checkers.map((k) => k.address),
      params: { simulatedHardware: true },
    }),
  );
  let height = 0;
  return {
    ledger,
    tx(k, type, payload) {
      height++;
      const raw = signTx(k, CHAIN_ID, type, ledger.account(k.address).nonce, payload);
      return ledger.apply(raw, { height, time: T0 + height, prevHash: '00'.repeat(32) }).result;
    },
  };
}

function online(n: Net, host: KeyPair, checkers: KeyPair[], gpus: number): void {
  n.tx(host, 'container.register', {
    name: 'rig',
    spec: {
      source: 'simulated',
      gpus: Array.from({ length: gpus }, () => ({ model: H100, memoryMiB: 81_920 })),
      cpu: { model: 'sim', cores: 8 },
      memoryMiB: 65_536,
    },
    pricePerHour: ath(2),
    reservedPricePerHour: ath('1.4'),
    location: { city: 'Frankfurt', country: 'DE', region: 'eu-central', lat: 50.11, lon: 8.68 },
  });
  n.tx(host, 'container.stake', { amount: n.ledger.requiredStakeFor(Array(gpus).fill(H100)) });
  for (const c of checkers.slice(0, 2))
    n.tx(c, 'checker.report', { container: host.address, check: 'liveness', ok: true, observedAt: T0 });
}

export function runMarkets(opts: BenchOptions): Row[] {
  const reservations = opts.quick ? 50 : 500;
  const checkers = [0, 1, 2].map((i) => keyPairFromSeed(`bench-markets-checker-${i}`));
  const user = keyPairFromSeed('bench-markets-user');
  const other = keyPairFromSeed('bench-markets-other');
  const host = keyPairFromSeed('bench-markets-host');
  const others = Array.from({ length: reservations }, (_, i) => keyPairFromSeed(`bench-markets-host-${i}`));
  opts.log(`markets: ${reservations} hosts with a reservation each (setup)`);

  // baseline: a ledger with this one host and no reservations
  const plain = net([host], [user, other], checkers);
  online(plain, host, checkers, 2);
  // the same host with one of its 2 GPUs reserved, among `reservations` active reservations
  const booked = net([host, ...others], [user, other], checkers);
  online(booked, host, checkers, 2);
  for (const n of [plain, booked])
    for (const u of [user, other]) n.tx(u, 'escrow.deposit', { amount: ath(5_000_000) });
  for (const h of others) {
    online(booked, h, checkers, 1);
    booked.tx(other, 'reservation.open', {
      container: h.address,
      gpus: 1,
      days: 30,
      maxPricePerHour: ath(2),
    });
  }
  booked.tx(other, 'reservation.open', {
    container: host.address,
    gpus: 1,
    days: 30,
    maxPricePerHour: ath(2),
  });
  // a third copy for preemption: an interruptible lease, then an on-demand one takes its GPU
  const spot = net([host], [user, other], checkers);
  online(spot, host, checkers, 1);
  for (const u of [user, other]) spot.tx(u, 'escrow.deposit', { amount: ath(5_000_000) });

  const open = (n: Net, k: KeyPair, extra: Record<string, unknown> = {}) =>
    String(
      n.tx(k, 'lease.open', {
        container: host.address,
        gpus: 1,
        maxDurationSec: 600,
        maxPricePerHour: ath(2),
        workload: { command: ['true'] },
        ...extra,
      }).lease,
    );
  const cycle = (n: Net) => () => {
    n.tx(user, 'lease.close', { lease: open(n, user) });
  };
  const res = interleaved(
    5,
    {
      plain: cycle(plain),
      booked: cycle(booked),
      preempt: () => {
        const a = open(spot, user, { interruptible: true, bidPerHour: ath(1) });
        const b = open(spot, other);
        spot.tx(user, 'lease.close', { lease: a });
        spot.tx(other, 'lease.close', { lease: b });
      },
    },
    { warmupMs: opts.quick ? 50 : 300, durationMs: opts.quick ? 500 : 4_000, minIters: 10 },
  );
  const base = opsPerSec(res.plain);
  return [
    row({
      suite: 'markets',
      name: `lease.open+close on a host with a GPU reserved (${reservations + 1} reservations)`,
      value: opsPerSec(res.booked),
      unit: 'cycles/s',
      baseline: base,
      baselineName: 'the same cycle, no reservations',
      better: 'higher',
    }),
    row({
      suite: 'markets',
      name: 'interruptible open, preempting on-demand open, both closed',
      value: opsPerSec(res.preempt),
      unit: 'cycles/s',
      baseline: base / 2,
      baselineName: 'two plain open+close cycles',
      better: 'higher',
    }),
  ];
}
