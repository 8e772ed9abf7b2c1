import { ath, SeededRng } from '../src/core/index.js';
import { DEFAULT_PARAMS, K, LedgerState, stateRootOf, type Account } from '../src/ledger/index.js';
import { syntheticAddress, syntheticContainer, syntheticLease } from './fixtures.js';
import { interleaved, msPerOp, row, sink, type BenchOptions, type Row } from './harness.js';

/**
 * The state root after a block that changed one entry: LedgerState (only the changed
 * bucket and its 16 ancestors rehashed) against a baseline that computes the same root from
 * scratch with stateRootOf. Both sides include writing the changed entry.
 */

const T0 = 1_700_000_000_000;

/** A state of about n entries: 75% accounts, 10% containers, 15% closed leases. */
function buildEntries(n: number): { entries: Array<[string, unknown]>; accounts: string[] } {
  const rng = new SeededRng(`state-root:${n}`);
  const entries: Array<[string, unknown]> = [];
  const accounts: string[] = [];
  const nContainers = Math.floor(n * 0.1);
  const nLeases = Math.floor(n * 0.15);
  const nAccounts = n - nContainers - nLeases;
  for (let i = 0; i < nAccounts; i++) {
    const key = K.account(syntheticAddress('acct', i));
    accounts.push(key);
    entries.push([
      key,
      { balance: ath(rng.int(0, 1_000_000)), nonce: rng.int(0, 500), escrow: 0n } satisfies Account,
    ]);
  }
  const containerIds: string[] = [];
  for (let i = 0; i < nContainers; i++) {
    const c = syntheticContainer(rng, i, DEFAULT_PARAMS, T0);
    containerIds.push(c.id);
    entries.push([K.container(c.id), c]);
  }
  for (let i = 0; i < nLeases; i++) {
    const l = syntheticLease(
      rng,
      i,
      rng.pick(containerIds),
      accounts[rng.int(0, accounts.length - 1)]!.slice(5),
      T0 + i * 1000,
    );
    entries.push([K.lease(l.id), l]);
  }
  return { entries, accounts };
}

/** The baseline: a plain map whose root is computed from scratch (stateRootOf) for every block. */
class FullRehashState {
  private readonly data: Map<string, unknown>;
  constructor(entries: Iterable<[string, unknown]>) {
    this.data = new Map(entries);
  }
  get<T>(key: string): T {
    return this.data.get(key) as T;
  }
  set(key: string, value: unknown): void {
    this.data.set(key, value);
  }
  root(): string {
    return stateRootOf(this.data.entries());
  }
}

function bump(a: Account): Account {
  return { ...a, balance: a.balance + 1n, nonce: a.nonce + 1 };
}

export function runStateRoot(opts: BenchOptions): Row[] {
  // A quick run leaves out 100k: its setup alone (building and hashing the state) takes seconds.
  const sizes = opts.quick ? [1_000, 10_000] : [1_000, 10_000, 100_000];
  const rows: Row[] = [];
  for (const n of sizes) {
    opts.log(`state root: ${n} entries (setup)`);
    const { entries, accounts } = buildEntries(n);
    const incremental = LedgerState.fromEntries(entries);
    const full = new FullRehashState(entries);
    // Fills LedgerState's leaf cache, as a running node has it.
    incremental.root();

    // One changed account per block, spread over the key space. Both variants start at i = 0
    // from the same state, so their first roots must agree: that checks the baseline for free.
    const pickKey = (i: number) => accounts[(i * 7919) % accounts.length]!;
    const first: { incremental?: string; full?: string } = {};
    const big = n >= 100_000;
    opts.log(`state root: ${n} entries`);
    const res = interleaved(
      opts.quick ? 1 : 2,
      {
        incremental: (i) => {
          const key = pickKey(i);
          incremental.atomically(() => incremental.set(key, bump(incremental.get<Account>(key)!)));
          const r = incremental.root();
          if (i === 0) first.incremental = r;
          sink(r);
        },
        full: (i) => {
          const key = pickKey(i);
          full.set(key, bump(full.get<Account>(key)));
          const r = full.root();
          if (i === 0) first.full = r;
          sink(r);
        },
      },
      {
        warmupMs: big ? 0 : opts.quick ? 20 : 100,
        durationMs: opts.quick ? 200 : big ? 2_000 : 1_500,
        minIters: opts.quick ? 1 : 2,
      },
    );
    if (!first.incremental || first.incremental !== first.full)
      throw new Error(`state root bench: LedgerState and the baseline disagree at ${n} entries`);
    rows.push(
      row({
        suite: 'state-root',
        name: `LedgerState.root, ${n.toLocaleString('en-US')} entries, 1 changed`,
        value: msPerOp(res.incremental),
        unit: 'ms/root',
        baseline: msPerOp(res.full),
        baselineName: 'stateRootOf: the whole root from scratch',
        better: 'lower',
      }),
    );
  }
  return rows;
}
