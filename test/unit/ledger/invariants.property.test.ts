import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AethirError, ath, mulBps, type KeyPair } from '../../../src/core/index.js';
import {
  Ledger,
  blockHash,
  genesisBlock,
  signTx,
  verifyChain,
  type Block,
  type Genesis,
  type SignedTx,
  TX_TYPES,
  type TxType,
} from '../../../src/ledger/index.js';
import {
  CHAIN_ID,
  alice,
  bob,
  carol,
  checkers,
  host,
  host2,
  leasePayload,
  makeGenesis,
  registerPayload,
  stranger,
} from './fixtures.js';

/**
 * Random transaction sequences, valid and invalid, at non-decreasing block times. After every
 * step the ledger's invariants must hold, a rejection must leave the root untouched, and at the
 * end replaying only the accepted transactions must reproduce the root; the blocks built from
 * them must verify, and stop verifying when a transaction or a root is tampered with.
 */

// Small stakes and short leases so random sequences reach the interesting states often.
const GENESIS: Genesis = makeGenesis({
  stakeBase: ath(1).toString(),
  stakePerGpu: ath(2).toString(),
  maxLeaseSeconds: 7200,
});
const ACTORS: KeyPair[] = [alice, bob, carol, host, host2, ...checkers, stranger];
const CONTAINERS: KeyPair[] = [host, host2, carol];

const amountArb = fc.oneof(
  { weight: 6, arbitrary: fc.bigInt({ min: 1n, max: ath(30) }) },
  { weight: 2, arbitrary: fc.bigInt({ min: 1n, max: 1000n }) },
  { weight: 1, arbitrary: fc.bigInt({ min: ath(10_000), max: ath(200_000) }) },
  { weight: 1, arbitrary: fc.constantFrom<bigint | string | number>(0n, -1n, 'abc', '1.5', 7, '') },
);
const priceArb = fc.oneof(fc.bigInt({ min: 1n, max: ath(3) }), fc.constantFrom(1_000_000_007n, ath(1), 0n));
const actor = fc.nat({ max: ACTORS.length - 1 });
const ctr = fc.nat({ max: CONTAINERS.length - 1 });

/** who signs a settle or close: the lease's user, its container, or anyone */
type Signer = 'user' | 'container' | number;
const signerArb: fc.Arbitrary<Signer> = fc.oneof(
  fc.constant('user' as const),
  fc.constant('container' as const),
  actor,
);

type Op =
  | { kind: 'transfer'; from: number; to: number; amount: bigint | string | number }
  | { kind: 'register'; who: number; gpus: number; price: bigint }
  | { kind: 'stake'; who: number; amount: bigint | string | number }
  | { kind: 'report'; checker: number; container: number; online: boolean; skew: number }
  | { kind: 'open'; user: number; container: number; gpus: number; dur: number; maxPrice: bigint }
  | { kind: 'settle'; signer: Signer; lease: number }
  | { kind: 'close'; signer: Signer; lease: number }
  | { kind: 'garbage'; who: number; variant: 'wrong-chain' | 'bad-sig' | 'foreign-key' | 'malformed' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('transfer' as const),
      from: actor,
      to: actor,
      amount: amountArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('register' as const),
      who: ctr,
      gpus: fc.nat({ max: 5 }),
      price: priceArb,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('stake' as const), who: ctr, amount: amountArb }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('report' as const),
      checker: fc.nat({ max: 3 }), // 3 = not a checker
      container: ctr,
      online: fc.boolean(),
      skew: fc.oneof(fc.constant(0), fc.integer({ min: -5_000, max: 120_000 })),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('open' as const),
      user: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(0, 1) }, { weight: 1, arbitrary: actor }),
      container: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(0, 1) }, { weight: 1, arbitrary: ctr }),
      gpus: fc.oneof(
        { weight: 3, arbitrary: fc.nat({ max: 2 }) },
        { weight: 1, arbitrary: fc.nat({ max: 5 }) },
      ),
      dur: fc.oneof(
        { weight: 9, arbitrary: fc.integer({ min: 1, max: 7200 }) },
        { weight: 1, arbitrary: fc.constant(7201) },
      ),
      maxPrice: fc.oneof({ weight: 4, arbitrary: fc.constant(ath(5)) }, { weight: 1, arbitrary: priceArb }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('settle' as const),
      signer: fc.oneof(
        { weight: 2, arbitrary: fc.constant('container' as const) },
        { weight: 1, arbitrary: signerArb },
      ),
      lease: fc.nat(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('close' as const), signer: signerArb, lease: fc.nat() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('garbage' as const),
      who: actor,
      variant: fc.constantFrom(
        'wrong-chain' as const,
        'bad-sig' as const,
        'foreign-key' as const,
        'malformed' as const,
      ),
    }),
  },
);

/** A step: an op, a possibly wrong nonce and how far block time advances (never backwards). */
interface Step {
  op: Op;
  nonceSkew: number;
  dt: number;
}

const stepArb: fc.Arbitrary<Step> = fc.record({
  op: opArb,
  nonceSkew: fc.oneof(
    { weight: 9, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.constantFrom(-1, 1, 2) },
  ),
  dt: fc.oneof(
    fc.constant(0),
    fc.integer({ min: 1, max: 1_000 }),
    fc.integer({ min: 1_000, max: 3 * 3_600_000 }),
  ),
});

/** The raw (possibly invalid) transaction for `op` against the current ledger at block `time`. */
function buildTx(ledger: Ledger, op: Op, nonceSkew: number, leases: string[], time: number): unknown {
  const leaseId = (i: number) => (leases.length ? leases[i % leases.length]! : 'Lnone');
  const signer = (who: Signer, lease: string): KeyPair => {
    if (typeof who === 'number') return ACTORS[who]!;
    const l = ledger.lease(lease);
    const address = l ? (who === 'user' ? l.user : l.container) : alice.address;
    return ACTORS.find((k) => k.address === address)!;
  };
  const sign = (k: KeyPair, type: TxType, payload: Record<string, unknown>) =>
    signTx(k, CHAIN_ID, type, Math.max(0, ledger.account(k.address).nonce + nonceSkew), payload);
  switch (op.kind) {
    case 'transfer':
      return sign(ACTORS[op.from]!, 'transfer', { to: ACTORS[op.to]!.address, amount: op.amount });
    case 'register':
      return sign(CONTAINERS[op.who]!, 'container.register', registerPayload(op.gpus, op.price));
    case 'stake':
      return sign(CONTAINERS[op.who]!, 'container.stake', { amount: op.amount });
    case 'report': {
      const k = op.checker < 3 ? checkers[op.checker as 0 | 1 | 2] : stranger;
      return sign(k, 'checker.report', {
        container: CONTAINERS[op.container]!.address,
        online: op.online,
        observedAt: Math.max(0, time + op.skew),
      });
    }
    case 'open':
      return sign(
        ACTORS[op.user]!,
        'lease.open',
        leasePayload(CONTAINERS[op.container]!.address, op.gpus, op.dur, op.maxPrice),
      );
    case 'settle':
      return sign(signer(op.signer, leaseId(op.lease)), 'lease.settle', { lease: leaseId(op.lease) });
    case 'close':
      return sign(signer(op.signer, leaseId(op.lease)), 'lease.close', { lease: leaseId(op.lease) });
    case 'garbage': {
      const k = ACTORS[op.who]!;
      const nonce = ledger.account(k.address).nonce;
      const good = signTx(k, CHAIN_ID, 'transfer', nonce, { to: stranger.address, amount: 1n });
      if (op.variant === 'wrong-chain')
        return signTx(k, 'other-chain', 'transfer', nonce, { to: stranger.address, amount: 1n });
      if (op.variant === 'bad-sig') return { ...good, payload: { ...good.payload, amount: '2' } };
      if (op.variant === 'foreign-key')
        return { ...good, from: ACTORS[(op.who + 1) % ACTORS.length]!.address };
      return { ...good, sig: undefined };
    }
  }
}

/** Plain assertion: cheaper than `expect` in the hot loop (it runs after every step). */
function check(cond: boolean, what: string, ...values: unknown[]): void {
  if (!cond) throw new Error(`invariant violated: ${what} ${values.map(String).join(' ')}`);
}

function checkInvariants(ledger: Ledger): void {
  const held = ledger.totalHeld();
  check(held === ledger.chain.supply, 'supply conserved', held, ledger.chain.supply);
  check(ledger.treasury().balance >= 0n, 'treasury >= 0');
  for (const a of ledger.accounts()) {
    check(a.balance >= 0n, 'balance >= 0', a.address, a.balance);
    check(Number.isInteger(a.nonce) && a.nonce >= 0, 'nonce >= 0', a.address, a.nonce);
  }
  const leases = ledger.leases();
  const bps = ledger.params.feeHostBps;
  for (const l of leases) {
    check(l.escrow >= 0n, 'escrow >= 0', l.id, l.escrow);
    check(l.charged >= 0n && l.charged <= l.escrow, '0 <= charged <= escrow', l.id, l.charged, l.escrow);
    check(l.hostShare + l.protocolShare === l.charged, 'host + protocol == charged', l.id);
    check(l.hostShare === mulBps(l.charged, bps), 'host share is feeHostBps of charged', l.id);
    check(l.settledAt <= l.openedAt + l.maxDurationSec * 1000, 'settled within the lease', l.id);
  }
  for (const c of ledger.containers()) {
    const open = leases.filter((l) => l.container === c.id && l.status === 'open');
    check(c.stake >= 0n, 'stake >= 0', c.id, c.stake);
    check(c.gpusLeased >= 0 && c.gpusLeased <= c.gpusTotal, '0 <= gpusLeased <= gpusTotal', c.id);
    check(c.openLeases === open.length, 'openLeases counts open leases', c.id);
    check(c.gpusLeased === open.reduce((s, l) => s + l.gpus, 0), 'gpusLeased sums open leases', c.id);
    const earned = leases.filter((l) => l.container === c.id).reduce((s, l) => s + l.hostShare, 0n);
    check(c.earned === earned, 'earned sums host shares', c.id, c.earned, earned);
  }
}

interface Run {
  blocks: Block[];
  accepted: Array<{ tx: SignedTx; height: number; time: number }>;
  ledger: Ledger;
}

function runSteps(steps: Step[]): Run {
  const ledger = Ledger.fromGenesis(GENESIS);
  const blocks: Block[] = [genesisBlock(GENESIS, ledger)];
  const accepted: Run['accepted'] = [];
  const leases: string[] = [];
  let time = GENESIS.time;
  checkInvariants(ledger);
  for (const { op, nonceSkew, dt } of steps) {
    time += dt;
    const raw = buildTx(ledger, op, nonceSkew, leases, time);
    const prev = blocks[blocks.length - 1]!;
    const height = prev.height + 1;
    const rootBefore = ledger.root();
    const from = (raw as { from?: unknown }).from;
    const nonceBefore = typeof from === 'string' ? ledger.account(from).nonce : -1;
    try {
      const { tx, result } = ledger.apply(raw, { height, time });
      if (tx.type === 'lease.open') leases.push(result.lease as string);
      check(ledger.account(tx.tx.from).nonce === nonceBefore + 1, 'nonce bumped by one');
      accepted.push({ tx: tx.tx, height, time });
      const partial = { height, time, prevHash: prev.hash, txs: [tx.tx], root: ledger.root() };
      blocks.push({ ...partial, hash: blockHash(partial) });
    } catch (e) {
      // every rejection is a typed error, never a crash or an invariant violation...
      if (!(e instanceof AethirError) || e.code === 'INTERNAL') throw e;
      // ...and leaves the state exactly as it was
      check(ledger.root() === rootBefore, 'a rejected tx leaves the root unchanged', e.code);
      if (nonceBefore >= 0)
        check(ledger.account(from as string).nonce === nonceBefore, 'a rejected tx keeps the nonce');
    }
    checkInvariants(ledger);
  }
  return { blocks, accepted, ledger };
}

/**
 * Most runs start by bringing host and host2 online (register, stake, two checker votes) so
 * that leases open often; the rest start from bare genesis. Either way random steps follow.
 */
const bootstrapArb = fc.oneof(
  { weight: 1, arbitrary: fc.constant([]) },
  {
    weight: 5,
    arbitrary: fc
      .tuple(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 4 }),
        priceArb.filter((p) => p > 0n),
        priceArb.filter((p) => p > 0n),
      )
      .map(([g1, g2, p1, p2]) => {
        const steps: Step[] = [];
        const add = (op: Op) => steps.push({ op, nonceSkew: 0, dt: 1000 });
        const stake = (gpus: number) => ath(1) + ath(2) * BigInt(gpus);
        add({ kind: 'register', who: 0, gpus: g1, price: p1 });
        add({ kind: 'register', who: 1, gpus: g2, price: p2 });
        add({ kind: 'stake', who: 0, amount: stake(g1) });
        add({ kind: 'stake', who: 1, amount: stake(g2) });
        for (const checker of [0, 1])
          for (const container of [0, 1]) add({ kind: 'report', checker, container, online: true, skew: 0 });
        return steps;
      }),
  },
);
const stepsArb = fc
  .tuple(bootstrapArb, fc.array(stepArb, { minLength: 1, maxLength: 40, size: 'medium' }))
  .map(([boot, rest]) => [...boot, ...rest]);
const RUNS = { numRuns: 50 };

describe('ledger invariants (property)', () => {
  it('conserves supply, never goes negative, and rejections change nothing', () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(stepsArb, (steps) => {
        const { accepted } = runSteps(steps);
        for (const a of accepted) seen.set(a.tx.type, (seen.get(a.tx.type) ?? 0) + 1);
      }),
      RUNS,
    );
    // the generator is not degenerate: every kind of transaction gets accepted somewhere
    for (const type of TX_TYPES) expect(seen.get(type) ?? 0, type).toBeGreaterThan(0);
  });

  it('replaying exactly the accepted txs into a fresh ledger gives the same root', () => {
    fc.assert(
      fc.property(stepsArb, (steps) => {
        const { accepted, ledger } = runSteps(steps);
        const replay = Ledger.fromGenesis(GENESIS);
        for (const a of accepted) replay.apply(a.tx, { height: a.height, time: a.time });
        expect(replay.root()).toBe(ledger.root());
        expect(replay.totalHeld()).toBe(replay.chain.supply);
      }),
      RUNS,
    );
  });

  it('verifyChain accepts the blocks and rejects a tampered tx or root', () => {
    fc.assert(
      fc.property(stepsArb, fc.nat(), fc.boolean(), (steps, pick, relink) => {
        const { blocks, ledger } = runSteps(steps);
        const ok = verifyChain(GENESIS, blocks);
        expect(ok).toMatchObject({
          ok: true,
          height: blocks.length - 1,
          blocks: blocks.length,
          root: ledger.root(),
        });
        expect(ok.txs).toBe(blocks.length - 1);
        if (blocks.length < 2) return;
        const i = 1 + (pick % (blocks.length - 1));
        /** replaces block i; with `relink` the tamperer also recomputes every hash after it */
        const tampered = (b: Omit<Block, 'hash'>): Block[] => {
          const out = blocks.slice();
          out[i] = { ...b, hash: relink ? blockHash(b) : blocks[i]!.hash };
          if (relink)
            for (let j = i + 1; j < out.length; j++) {
              const partial = { ...out[j]!, prevHash: out[j - 1]!.hash };
              out[j] = { ...partial, hash: blockHash(partial) };
            }
          return out;
        };
        const b = blocks[i]!;
        const tx = b.txs[0]!;
        // a tx field changed after signing
        const badTx = verifyChain(GENESIS, tampered({ ...b, txs: [{ ...tx, nonce: tx.nonce + 1 }] }));
        expect(badTx.ok).toBe(false);
        expect(badTx.error!.height).toBe(i);
        // a tampered root
        const badRoot = verifyChain(GENESIS, tampered({ ...b, root: '0'.repeat(64) }));
        expect(badRoot.ok).toBe(false);
        expect(badRoot.error!.height).toBe(i);
        // a tx dropped from the log
        expect(verifyChain(GENESIS, tampered({ ...b, txs: [] })).ok).toBe(false);
      }),
      { numRuns: 40 },
    );
  });
});
