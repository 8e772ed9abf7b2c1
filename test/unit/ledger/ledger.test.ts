import { beforeEach, describe, expect, it } from 'vitest';
import {
  AethirError,
  ath,
  keyPairFromSeed,
  mulBps,
  UNIT,
  verifyMerkleProof,
} from '../../../src/core/index.js';
import {
  DEFAULT_PARAMS,
  Ledger,
  TOTAL_SUPPLY,
  decodeTx,
  genesisHash,
  parseGenesis,
  requiredStake,
  signTx,
  txId,
  genesisEpochSeed,
  newReputation,
} from '../../../src/ledger/index.js';
import {
  CHAIN_ID,
  CHECKER_POOL,
  DAY_MS,
  FUNDED,
  GENESIS_TIME,
  H100,
  HOUR_MS,
  REWARD_POOL,
  TestNet,
  alice,
  bal,
  bob,
  carol,
  checkers,
  conserved,
  dayEnd,
  escrow,
  governor,
  host,
  host2,
  leasePayload,
  makeGenesis,
  registerPayload,
  stranger,
} from './fixtures.js';

const PRICE = ath(2); // per GPU-hour

describe('genesis', () => {
  it('funds the allocations and pools, puts the rest in the treasury and conserves supply', () => {
    const g = makeGenesis();
    const l = Ledger.fromGenesis(g);
    let allocated = 0n;
    for (const [k, amount] of FUNDED) {
      expect(l.account(k.address)).toEqual({ balance: amount, nonce: 0, escrow: 0n });
      allocated += amount;
    }
    expect(l.rewardPool().balance).toBe(REWARD_POOL);
    expect(l.checkerPool().balance).toBe(CHECKER_POOL);
    expect(l.treasury().balance).toBe(TOTAL_SUPPLY - allocated - REWARD_POOL - CHECKER_POOL);
    expect(l.chain).toEqual({
      chainId: CHAIN_ID,
      genesisTime: GENESIS_TIME,
      supply: TOTAL_SUPPLY,
      checkers: checkers.map((c) => c.address),
      governance: governor.address,
    });
    expect(l.params).toEqual(DEFAULT_PARAMS);
    expect(l.economics).toEqual({
      coefficientBps: 10_000,
      coefficientUpdatedAt: GENESIS_TIME,
      revenueSince: 0n,
      lastEpoch: -1,
      lastEpochEnd: GENESIS_TIME,
      lastCheckerDay: -1,
      epochSeed: genesisEpochSeed(CHAIN_ID, GENESIS_TIME),
    });
    for (const c of checkers) expect(l.checker(c.address)).toMatchObject({ correct: 0, bannedUntil: 0 });
    expect(l.totalHeld()).toBe(TOTAL_SUPPLY);
    expect(l.account(stranger.address)).toEqual({ balance: 0n, nonce: 0, escrow: 0n });
  });

  it('without pools or governance: empty pools and no authority', () => {
    const g = makeGenesis(undefined, { pools: null, governance: null });
    expect(g.pools).toEqual({ rewards: 0n, checkers: 0n });
    expect(g.governance).toBeNull();
    const l = Ledger.fromGenesis(g);
    expect(l.rewardPool().balance).toBe(0n);
    expect(l.checkerPool().balance).toBe(0n);
    expect(l.chain.governance).toBeNull();
    expect(l.totalHeld()).toBe(TOTAL_SUPPLY);
  });

  it('is deterministic: same genesis, same root and hash', () => {
    expect(Ledger.fromGenesis(makeGenesis()).root()).toBe(Ledger.fromGenesis(makeGenesis()).root());
    expect(genesisHash(makeGenesis())).toBe(genesisHash(makeGenesis()));
    expect(Ledger.fromGenesis(makeGenesis({ feeHostBps: 9000 })).root()).not.toBe(
      Ledger.fromGenesis(makeGenesis()).root(),
    );
    // pools and governance are part of the state and of the genesis hash
    const noGov = makeGenesis(undefined, { governance: null });
    expect(genesisHash(noGov)).not.toBe(genesisHash(makeGenesis()));
    expect(Ledger.fromGenesis(noGov).root()).not.toBe(Ledger.fromGenesis(makeGenesis()).root());
    const otherPools = makeGenesis(undefined, { pools: { rewards: 1n, checkers: 2n } });
    expect(Ledger.fromGenesis(otherPools).root()).not.toBe(Ledger.fromGenesis(makeGenesis()).root());
  });

  it('merges params over the defaults', () => {
    const g = makeGenesis({ feeHostBps: 9000, coefficientRefMonthlyRevenue: '5', epochMs: 60_000 });
    expect(g.params).toEqual({
      ...DEFAULT_PARAMS,
      feeHostBps: 9000,
      coefficientRefMonthlyRevenue: 5n,
      epochMs: 60_000,
    });
  });

  it('rejects invalid genesis documents', () => {
    const base = {
      chainId: CHAIN_ID,
      time: 0,
      allocations: [{ address: alice.address, amount: '1' }],
      checkers: [checkers[0].address],
    };
    const bad: unknown[] = [
      { ...base, chainId: 'Bad Chain' },
      { ...base, checkers: [] },
      { ...base, checkers: [checkers[0].address, checkers[0].address] },
      {
        ...base,
        allocations: [
          { address: alice.address, amount: '1' },
          { address: alice.address, amount: '2' },
        ],
      },
      { ...base, allocations: [{ address: alice.address, amount: (TOTAL_SUPPLY + 1n).toString() }] },
      { ...base, allocations: [{ address: 'nope', amount: '1' }] },
      { ...base, allocations: [{ address: alice.address, amount: '-1' }] },
      // pools count against the supply too
      { ...base, pools: { rewards: TOTAL_SUPPLY.toString(), checkers: '0' } },
      { ...base, pools: { rewards: '1' } },
      { ...base, pools: { rewards: '1', checkers: '1', extra: '1' } },
      { ...base, governance: 'not-an-address' },
      { ...base, params: { feeHostBps: 100 } },
      { ...base, params: { unknownParam: 1 } },
      { ...base, params: { coefficientMinBps: 9000, coefficientMaxBps: 10_000, epochMs: 1 } },
      { ...base, params: { checkerFastVestingMs: DAY_MS * 200 } },
      { ...base, params: { kTable: { h100: '1' } } },
      { ...base, extra: true },
    ];
    for (const g of bad) expect(() => parseGenesis(g), JSON.stringify(g)).toThrow(AethirError);
  });
});

describe('transaction validation (every rejection leaves the root unchanged)', () => {
  let t: TestNet;
  beforeEach(() => {
    t = new TestNet();
  });

  it('rejects malformed transactions with INVALID_TRANSACTION', () => {
    const good = t.sign(alice, 'transfer', { to: bob.address, amount: 1n });
    const { sig: _sig, ...unsigned } = good;
    const malformed: unknown[] = [
      null,
      undefined,
      42,
      'transfer',
      [],
      {},
      unsigned,
      { ...good, extra: 1 },
      { ...good, type: 'mint' },
      { ...good, chainId: '' },
      { ...good, from: 'ath1xyz' },
      { ...good, pubkey: good.pubkey.toUpperCase() },
      { ...good, nonce: -1 },
      { ...good, nonce: 1.5 },
      { ...good, nonce: '0' },
      { ...good, payload: null },
      { ...good, payload: [] },
      { ...good, sig: good.sig.slice(2) },
      { ...good, sig: 'zz' + good.sig.slice(2) },
    ];
    for (const raw of malformed) t.expectReject(raw, 'INVALID_TRANSACTION');
    expect(t.nonce(alice)).toBe(0);
  });

  it('rejects a transaction for another chain with WRONG_CHAIN', () => {
    t.expectReject(
      signTx(alice, 'other-chain', 'transfer', 0, { to: bob.address, amount: 1n }),
      'WRONG_CHAIN',
    );
  });

  it('rejects bad signatures and keys that do not match `from` with BAD_SIGNATURE', () => {
    const good = t.sign(alice, 'transfer', { to: bob.address, amount: ath(1) });
    // payload changed after signing
    t.expectReject({ ...good, payload: { ...good.payload, amount: ath(1000).toString() } }, 'BAD_SIGNATURE');
    // nonce or type changed after signing
    t.expectReject({ ...good, nonce: 1 }, 'BAD_SIGNATURE');
    t.expectReject({ ...good, type: 'container.stake', payload: { amount: '1' } }, 'BAD_SIGNATURE');
    // signature by another key
    const bobSig = signTx(bob, CHAIN_ID, 'transfer', 0, { to: bob.address, amount: ath(1) }).sig;
    t.expectReject({ ...good, sig: bobSig }, 'BAD_SIGNATURE');
    // all-zero signature
    t.expectReject({ ...good, sig: '0'.repeat(128) }, 'BAD_SIGNATURE');
    // bob's pubkey claiming to be alice (pubkey does not match from)
    const forged = signTx(bob, CHAIN_ID, 'transfer', 0, { to: carol.address, amount: ath(1) });
    t.expectReject({ ...forged, from: alice.address }, 'BAD_SIGNATURE');
    // alice's own pubkey but a signature from bob over the same bytes
    t.expectReject({ ...forged, from: alice.address, pubkey: alice.publicKey }, 'BAD_SIGNATURE');
    // the chain id is signed: relabelling a tx for another chain breaks the signature
    const other = signTx(alice, 'other-chain', 'transfer', 0, { to: bob.address, amount: ath(1) });
    t.expectReject({ ...other, chainId: CHAIN_ID }, 'BAD_SIGNATURE');
    expect(bal(t, alice.address)).toBe(ath(100_000));
  });

  it('rejects a replayed nonce and a future nonce with NONCE_MISMATCH', () => {
    const tx0 = t.sign(alice, 'transfer', { to: bob.address, amount: ath(1) });
    t.applyRaw(tx0);
    expect(t.nonce(alice)).toBe(1);
    const replay = t.expectReject(tx0, 'NONCE_MISMATCH');
    expect(replay.details).toEqual({ expected: 1 });
    expect(replay.retryable).toBe(true);
    // a future nonce (skipping one) is rejected too
    t.expectReject(t.sign(alice, 'transfer', { to: bob.address, amount: ath(1) }, 2), 'NONCE_MISMATCH');
    t.expectReject(t.sign(alice, 'transfer', { to: bob.address, amount: ath(1) }, 1000), 'NONCE_MISMATCH');
    // a rejected transaction does not consume the nonce
    t.tx(alice, 'transfer', { to: bob.address, amount: ath(1) });
    expect(t.nonce(alice)).toBe(2);
  });

  it('rejects zero, negative and non-numeric amounts with INVALID_TRANSACTION', () => {
    for (const amount of [0n, -1n, '0', '00', '-5', '1.5', '1e3', 'abc', '', ' 1', 5, null, '1'.repeat(41)])
      t.expectRejectTx(alice, 'transfer', { to: bob.address, amount }, 'INVALID_TRANSACTION');
    t.expectRejectTx(alice, 'transfer', { to: bob.address }, 'INVALID_TRANSACTION');
    t.expectRejectTx(alice, 'transfer', { to: 'ath1nothex', amount: 1n }, 'INVALID_TRANSACTION');
    t.expectRejectTx(alice, 'transfer', { to: bob.address, amount: 1n, memo: 'x' }, 'INVALID_TRANSACTION');
    t.expectRejectTx(alice, 'container.stake', { amount: 0n }, 'INVALID_TRANSACTION');
    t.expectRejectTx(alice, 'container.register', registerPayload(1, 0n), 'INVALID_TRANSACTION');
    expect(t.nonce(alice)).toBe(0);
  });

  it('rejects an amount over the balance with INSUFFICIENT_FUNDS', () => {
    const e = t.expectRejectTx(
      alice,
      'transfer',
      { to: bob.address, amount: ath(100_000) + 1n },
      'INSUFFICIENT_FUNDS',
    );
    expect(e.details).toEqual({ needed: (ath(100_000) + 1n).toString(), balance: ath(100_000).toString() });
    t.expectRejectTx(stranger, 'transfer', { to: bob.address, amount: 1n }, 'INSUFFICIENT_FUNDS');
    // more than the whole supply still parses (40 digits) and is refused on funds
    t.expectRejectTx(alice, 'transfer', { to: bob.address, amount: 10n ** 39n }, 'INSUFFICIENT_FUNDS');
    // the exact balance is fine
    t.tx(carol, 'transfer', { to: bob.address, amount: ath(10) });
    expect(bal(t, carol.address)).toBe(0n);
    t.expectRejectTx(carol, 'transfer', { to: bob.address, amount: 1n }, 'INSUFFICIENT_FUNDS');
  });

  it('decodeTx checks statelessly and returns the tx id', () => {
    const tx = t.sign(alice, 'transfer', { to: bob.address, amount: 7n });
    const d = decodeTx(tx, CHAIN_ID);
    expect(d.id).toBe(txId(tx));
    expect(d.payload).toEqual({ to: bob.address, amount: 7n });
    // decoding is not applying: the same tx decodes again
    expect(decodeTx(tx, CHAIN_ID).id).toBe(d.id);
  });
});

describe('transfer', () => {
  it('moves the amount, bumps the nonce and conserves supply', () => {
    const t = new TestNet();
    const r = t.tx(alice, 'transfer', { to: bob.address, amount: ath('1.5') });
    expect(r).toEqual({ to: bob.address, amount: ath('1.5').toString() });
    expect(t.ledger.account(alice.address)).toEqual({
      balance: ath(100_000) - ath('1.5'),
      nonce: 1,
      escrow: 0n,
    });
    expect(t.ledger.account(bob.address)).toEqual({
      balance: ath(50_000) + ath('1.5'),
      nonce: 0,
      escrow: 0n,
    });
    conserved(t);
  });

  it('creates the recipient account on first credit', () => {
    const t = new TestNet();
    const fresh = keyPairFromSeed('test:fresh');
    t.tx(alice, 'transfer', { to: fresh.address, amount: 1n });
    expect(t.ledger.account(fresh.address)).toEqual({ balance: 1n, nonce: 0, escrow: 0n });
    expect(t.ledger.accounts().map((a) => a.address)).toContain(fresh.address);
    // and that account can spend it
    t.tx(fresh, 'transfer', { to: alice.address, amount: 1n });
    expect(t.ledger.account(fresh.address)).toEqual({ balance: 0n, nonce: 1, escrow: 0n });
    conserved(t);
  });

  it('refuses a transfer to yourself', () => {
    const t = new TestNet();
    t.expectRejectTx(alice, 'transfer', { to: alice.address, amount: 1n }, 'INVALID_TRANSACTION');
  });
});

describe('container.register and container.stake', () => {
  it('registers a pending container with its GPU count and reports its required stake', () => {
    const t = new TestNet();
    t.advance(1234);
    const r = t.tx(host, 'container.register', registerPayload(4, PRICE, 'h100-box'));
    // 4 × K(h100) = 4 × 3000 ATH at the genesis coefficient of 1.0
    expect(r).toEqual({ container: host.address, updated: false, requiredStake: ath(12_000).toString() });
    const c = t.ledger.container(host.address)!;
    expect(c).toEqual({
      id: host.address,
      name: 'h100-box',
      spec: registerPayload(4, PRICE).spec,
      location: registerPayload(4, PRICE).location,
      pricePerHour: PRICE,
      stake: 0n,
      unbonding: 0n,
      unbondingUntil: null,
      status: 'pending',
      suspended: false,
      onlineSince: null,
      gpusTotal: 4,
      gpusLeased: 0,
      openLeases: 0,
      earned: 0n,
      epochDeliveredGpuMs: 0,
      qualityTier: 1,
      slashed: 0n,
      registeredAt: GENESIS_TIME + 1234,
      suspendedReason: null,
      checks: {},
      incidents: [],
      rep: newReputation(),
    });
    expect(t.ledger.containers()).toHaveLength(1);
    expect(t.ledger.requiredStakeOf(c)).toBe(ath(12_000));
  });

  it('re-registering updates name and price but keeps stake, status and history', () => {
    const t = new TestNet();
    t.onlineContainer(host, 2, PRICE);
    const before = t.ledger.container(host.address)!;
    t.advance(5000);
    const r = t.tx(host, 'container.register', registerPayload(2, ath(3), 'renamed'));
    expect(r.updated).toBe(true);
    const after = t.ledger.container(host.address)!;
    expect(after).toEqual({
      ...before,
      name: 'renamed',
      pricePerHour: ath(3),
      spec: registerPayload(2, ath(3)).spec,
    });
  });

  it('cannot change the GPU count while a lease is open, but can afterwards', () => {
    const t = new TestNet();
    t.onlineContainer(host, 2, PRICE);
    t.deposit(alice, ath(10));
    const { lease } = t.tx(alice, 'lease.open', leasePayload(host.address, 1, 3600, PRICE));
    t.expectRejectTx(host, 'container.register', registerPayload(4, PRICE), 'CONFLICT');
    t.tx(alice, 'lease.close', { lease });
    t.tx(host, 'container.register', registerPayload(4, PRICE));
    expect(t.ledger.container(host.address)!.gpusTotal).toBe(4);
  });

  it('rejects an invalid registration payload', () => {
    const t = new TestNet();
    const p = registerPayload(1, PRICE);
    t.expectRejectTx(host, 'container.register', { ...p, name: '' }, 'INVALID_TRANSACTION');
    t.expectRejectTx(
      host,
      'container.register',
      { ...p, location: { ...p.location, lat: 91 } },
      'INVALID_TRANSACTION',
    );
    t.expectRejectTx(
      host,
      'container.register',
      { ...p, spec: { ...p.spec, source: 'guessed' } },
      'INVALID_TRANSACTION',
    );
    t.expectRejectTx(host, 'container.register', { ...p, extra: 1 }, 'INVALID_TRANSACTION');
  });

  it('stake moves balance into the container stake', () => {
    const t = new TestNet();
    t.expectRejectTx(host, 'container.stake', { amount: ath(1) }, 'NOT_FOUND');
    t.tx(host, 'container.register', registerPayload(1, PRICE));
    const r = t.tx(host, 'container.stake', { amount: ath(2000) });
    expect(r).toEqual({ container: host.address, stake: ath(2000).toString(), suspended: false });
    t.tx(host, 'container.stake', { amount: ath(1000) });
    expect(t.ledger.container(host.address)!.stake).toBe(ath(3000));
    expect(bal(t, host.address)).toBe(ath(20_000) - ath(3000));
    expect(requiredStake(t.ledger.params, 10_000, [H100])).toBe(ath(3000));
    t.expectRejectTx(host, 'container.stake', { amount: ath(20_000) }, 'INSUFFICIENT_FUNDS');
    conserved(t);
  });
});

describe('checker.report (liveness rounds)', () => {
  it('a majority (2 of 3) of checkers decides a round; each round starts afresh', () => {
    const t = new TestNet();
    t.tx(host, 'container.register', registerPayload(1, PRICE));
    expect(t.report(host.address, true, 0)).toEqual({ container: host.address, decided: false });
    expect(t.ledger.container(host.address)!.status).toBe('pending');
    expect(t.ledger.round(host.address, 'liveness')!.votes).toEqual({
      [checkers[0].address]: { ok: true, at: t.time },
    });
    t.advance(1000);
    const r = t.report(host.address, true, 2);
    expect(r).toEqual({ container: host.address, decided: true, ok: true, status: 'online' });
    expect(t.ledger.container(host.address)).toMatchObject({ status: 'online', onlineSince: t.time });
    const decidedAt = t.time;
    expect(t.ledger.round(host.address, 'liveness')).toMatchObject({
      openedAt: decidedAt,
      votes: {},
      prev: { ok: true, decidedAt, openedAt: 0 },
    });
    // a new round: one dissenting checker does not move it
    t.advance(60_000);
    expect(t.report(host.address, false, 1)).toEqual({ container: host.address, decided: false });
    expect(t.ledger.container(host.address)!.status).toBe('online');
    // a checker changing its mind within a round replaces its vote
    t.report(host.address, false, 1);
    expect(Object.keys(t.ledger.round(host.address, 'liveness')!.votes)).toHaveLength(1);
    // a second "down" vote decides: idle, so offline without a slash
    const off = t.report(host.address, false, 0);
    expect(off).toEqual({ container: host.address, decided: true, ok: false, status: 'offline' });
    expect(t.ledger.container(host.address)).toMatchObject({ status: 'offline', onlineSince: null });
    t.advance(60_000);
    t.report(host.address, true, 1);
    t.report(host.address, true, 0);
    expect(t.ledger.container(host.address)).toMatchObject({ status: 'online', onlineSince: t.time });
    // reports cost nothing and move no units, but use the checker's nonce
    expect(t.nonce(checkers[0])).toBe(3);
    expect(t.nonce(checkers[1])).toBe(3);
    conserved(t);
  });

  it('online again while online keeps the original onlineSince', () => {
    const t = new TestNet();
    t.onlineContainer(host, 1, PRICE);
    const since = t.ledger.container(host.address)!.onlineSince;
    t.advance(HOUR_MS);
    t.report(host.address, true, 1);
    t.report(host.address, true, 2);
    expect(t.ledger.container(host.address)!.onlineSince).toBe(since);
  });

  it('rejects a report from a non-checker, about an unknown container, malformed or from the future', () => {
    const t = new TestNet();
    t.tx(host, 'container.register', registerPayload(1, PRICE));
    const ok = { container: host.address, check: 'liveness', ok: true, observedAt: t.time };
    for (const k of [alice, host, stranger, governor])
      t.expectRejectTx(k, 'checker.report', ok, 'UNAUTHORIZED');
    t.expectRejectTx(checkers[0], 'checker.report', { ...ok, container: host2.address }, 'NOT_FOUND');
    t.expectRejectTx(
      checkers[0],
      'checker.report',
      { ...ok, observedAt: t.time + 60_001 },
      'INVALID_TRANSACTION',
    );
    t.expectRejectTx(checkers[0], 'checker.report', { ...ok, ok: 'yes' }, 'INVALID_TRANSACTION');
    t.expectRejectTx(checkers[0], 'checker.report', { ...ok, check: 'vibes' }, 'INVALID_TRANSACTION');
    // the previous API's shape is refused
    t.expectRejectTx(
      checkers[0],
      'checker.report',
      { container: host.address, online: true, observedAt: t.time },
      'INVALID_TRANSACTION',
    );
    // up to a minute of clock skew is tolerated; `check` defaults to liveness
    t.tx(checkers[0], 'checker.report', { container: host.address, ok: true, observedAt: t.time + 60_000 });
    expect(t.ledger.round(host.address, 'liveness')!.votes[checkers[0].address]).toEqual({
      ok: true,
      at: t.time + 60_000,
    });
  });
});

describe('lease.open', () => {
  it('locks escrow = price x max(gpus, 1) x duration from the escrow balance and books the GPUs', () => {
    const t = new TestNet();
    t.onlineContainer(host, 4, PRICE);
    t.deposit(alice, ath(100));
    const before = bal(t, alice.address);
    const r = t.tx(alice, 'lease.open', leasePayload(host.address, 3, 1800, PRICE));
    const locked = (PRICE * 3n * 1800n) / 3600n; // 3 ATH
    expect(locked).toBe(ath(3));
    expect(r.escrow).toBe(locked.toString());
    // the balance is untouched: the lease draws on the escrow balance
    expect(bal(t, alice.address)).toBe(before);
    expect(escrow(t, alice.address)).toBe(ath(97));
    const lease = t.ledger.lease(r.lease as string)!;
    expect(lease).toMatchObject({
      id: r.lease,
      user: alice.address,
      container: host.address,
      gpus: 3,
      pricePerHour: PRICE,
      maxDurationSec: 1800,
      openEnded: false,
      escrow: locked,
      charged: 0n,
      hostShare: 0n,
      protocolShare: 0n,
      openedAt: t.time,
      settledAt: t.time,
      closedAt: null,
      status: 'open',
    });
    expect(t.ledger.container(host.address)).toMatchObject({ gpusLeased: 3, openLeases: 1 });
    conserved(t);
  });

  it('charges a zero-GPU lease as one unit of price', () => {
    const t = new TestNet();
    t.onlineContainer(host, 2, PRICE);
    t.deposit(alice, ath(10));
    const r = t.tx(alice, 'lease.open', leasePayload(host.address, 0, 7200, PRICE));
    expect(BigInt(r.escrow as string)).toBe(PRICE * 2n);
    expect(t.ledger.container(host.address)).toMatchObject({ gpusLeased: 0, openLeases: 1 });
  });

  it('rounds a fractional escrow down to whole units', () => {
    const t = new TestNet();
    const odd = 1_000_000_007n;
    t.onlineContainer(host, 1, odd);
    t.deposit(alice, ath(1));
    const r = t.tx(alice, 'lease.open', leasePayload(host.address, 1, 61, odd));
    expect(BigInt(r.escrow as string)).toBe((odd * 61n * 1000n) / 3_600_000n);
  });

  it('never double-books GPU capacity (CAPACITY_EXHAUSTED)', () => {
    const t = new TestNet();
    t.onlineContainer(host, 4, PRICE);
    t.deposit(alice, ath(100));
    t.deposit(bob, ath(100));
    const a = t.tx(alice, 'lease.open', leasePayload(host.address, 3, 3600, PRICE));
    t.expectRejectTx(bob, 'lease.open', leasePayload(host.address, 2, 3600, PRICE), 'CAPACITY_EXHAUSTED');
    t.tx(bob, 'lease.open', leasePayload(host.address, 1, 3600, PRICE));
    expect(t.ledger.container(host.address)).toMatchObject({ gpusLeased: 4, openLeases: 2 });
    t.expectRejectTx(bob, 'lease.open', leasePayload(host.address, 1, 3600, PRICE), 'CAPACITY_EXHAUSTED');
    t.expectRejectTx(alice, 'lease.open', leasePayload(host.address, 5, 3600, PRICE), 'CAPACITY_EXHAUSTED');
    // closing a lease frees its GPUs
    t.tx(alice, 'lease.close', { lease: a.lease });
    expect(t.ledger.container(host.address)).toMatchObject({ gpusLeased: 1, openLeases: 1 });
    t.tx(bob, 'lease.open', leasePayload(host.address, 3, 3600, PRICE));
    expect(t.ledger.container(host.address)).toMatchObject({ gpusLeased: 4, openLeases: 2 });
    // leased GPUs never exceed the total
    for (const c of t.ledger.containers()) expect(c.gpusLeased).toBeLessThanOrEqual(c.gpusTotal);
  });

  it('rejects an offline, pending or under-staked container (CONTAINER_UNAVAILABLE)', () => {
    const t = new TestNet();
    t.deposit(alice, ath(100));
    t.deposit(bob, ath(100));
    t.tx(host, 'container.register', registerPayload(1, PRICE));
    t.expectRejectTx(alice, 'lease.open', leasePayload(host.address, 1, 60, PRICE), 'CONTAINER_UNAVAILABLE');
    // online but not staked
    t.report(host.address, true, 0);
    t.report(host.address, true, 1);
    t.expectRejectTx(alice, 'lease.open', leasePayload(host.address, 1, 60, PRICE), 'CONTAINER_UNAVAILABLE');
    t.tx(host, 'container.stake', { amount: ath(3000) - 1n });
    t.expectRejectTx(alice, 'lease.open', leasePayload(host.address, 1, 60, PRICE), 'CONTAINER_UNAVAILABLE');
    t.tx(host, 'container.stake', { amount: 1n });
    const { lease } = t.tx(alice, 'lease.open', leasePayload(host.address, 1, 60, PRICE));
    t.tx(alice, 'lease.close', { lease });
    // voted offline (idle): no new leases
    t.advance(1000);
    t.report(host.address, false, 1);
    t.report(host.address, false, 2);
    t.expectRejectTx(bob, 'lease.open', leasePayload(host.address, 0, 60, PRICE), 'CONTAINER_UNAVAILABLE');
  });

  it('rejects a bad lease request', () => {
    const t = new TestNet();
    t.onlineContainer(host, 2, PRICE);
    t.deposit(alice, ath(10_000));
    const maxSec = t.ledger.params.maxLeaseSeconds;
    t.expectRejectTx(alice, 'lease.open', leasePayload(host2.address, 1, 60, PRICE), 'NOT_FOUND');
    t.expectRejectTx(
      alice,
      'lease.open',
      leasePayload(host.address, 1, 60, PRICE - 1n),
      'INVALID_TRANSACTION',
    );
    t.expectRejectTx(
      alice,
      'lease.open',
      leasePayload(host.address, 1, maxSec + 1, PRICE),
      'INVALID_TRANSACTION',
    );
    t.expectRejectTx(host, 'lease.open', leasePayload(host.address, 1, 60, PRICE), 'INVALID_TRANSACTION');
    for (const bad of [
      { ...leasePayload(host.address, 1, 0, PRICE) },
      { ...leasePayload(host.address, -1, 60, PRICE) },
      { ...leasePayload(host.address, 1.5, 60, PRICE) },
      { ...leasePayload(host.address, 65, 60, PRICE) },
      { ...leasePayload(host.address, 1, 60, PRICE), workload: { command: [] } },
      { ...leasePayload(host.address, 1, 60, 0n) },
    ])
      t.expectRejectTx(alice, 'lease.open', bad, 'INVALID_TRANSACTION');
    // escrow beyond the escrow balance: carol deposits her 10 ATH; 3 hours of 2 GPUs lock 12
    t.deposit(carol, ath(10));
    t.expectRejectTx(
      carol,
      'lease.open',
      leasePayload(host.address, 2, 3 * 3600, PRICE),
      'INSUFFICIENT_FUNDS',
    );
    // the longest allowed lease is fine (1 GPU × 2 ATH × 720 h = 1440 ATH)
    t.tx(alice, 'lease.open', leasePayload(host.address, 1, maxSec, PRICE));
    expect(escrow(t, alice.address)).toBe(ath(10_000 - 1440));
  });
});

describe('lease.settle and lease.close', () => {
  /** host online with 4 GPUs at PRICE; alice deposits 100 ATH and opens a 2-GPU lease for 2 hours */
  function withLease(): { t: TestNet; lease: string; escrow: bigint } {
    const t = new TestNet();
    t.onlineContainer(host, 4, PRICE);
    t.deposit(alice, ath(100));
    const r = t.tx(alice, 'lease.open', leasePayload(host.address, 2, 7200, PRICE));
    return { t, lease: r.lease as string, escrow: BigInt(r.escrow as string) };
  }

  it('close charges elapsed block time x price: 80% host (vesting), 20% treasury, the rest refunded to escrow', () => {
    const { t, lease, escrow: locked } = withLease();
    expect(locked).toBe(ath(8));
    const aliceBal0 = bal(t, alice.address);
    const aliceEsc0 = escrow(t, alice.address);
    const host0 = bal(t, host.address);
    const treasury0 = t.ledger.treasury().balance;
    t.advance(30 * 60_000); // half an hour of 2 GPUs at 2 ATH = 2 ATH
    const r = t.tx(alice, 'lease.close', { lease });
    const charged = ath(2);
    expect(r).toEqual({ lease, charged: charged.toString(), refund: (locked - charged).toString() });
    // the host's share vests; it is not on its balance yet
    expect(bal(t, host.address)).toBe(host0);
    expect(t.vested(host.address, 'host', dayEnd(t.time) + 45 * DAY_MS)).toBe(ath('1.6'));
    expect(t.ledger.treasury().balance - treasury0).toBe(ath('0.4'));
    // the refund goes back to the escrow balance, not to the spendable balance
    expect(bal(t, alice.address)).toBe(aliceBal0);
    expect(escrow(t, alice.address) - aliceEsc0).toBe(locked - charged);
    const l = t.ledger.lease(lease)!;
    expect(l).toMatchObject({
      status: 'closed',
      charged,
      hostShare: ath('1.6'),
      protocolShare: ath('0.4'),
      closedAt: t.time,
      settledAt: t.time,
      closedBy: alice.address,
      closeReason: 'closed by user',
      exitCode: null,
    });
    expect(t.ledger.container(host.address)).toMatchObject({
      gpusLeased: 0,
      openLeases: 0,
      earned: ath('1.6'),
      epochDeliveredGpuMs: 2 * 30 * 60_000,
    });
    expect(t.ledger.economics.revenueSince).toBe(ath('1.6'));
    conserved(t);
  });

  it('the container may close too, with an exit code and reason', () => {
    const { t, lease } = withLease();
    t.advance(1000);
    t.tx(host, 'lease.close', { lease, exitCode: 137, reason: 'OOM killed' });
    expect(t.ledger.lease(lease)).toMatchObject({
      status: 'closed',
      closedBy: host.address,
      exitCode: 137,
      closeReason: 'OOM killed',
    });
    const { t: t2, lease: lease2 } = withLease();
    t2.tx(host, 'lease.close', { lease: lease2 });
    expect(t2.ledger.lease(lease2)!.closeReason).toBe('closed by container');
  });

  it('closing in the opening block charges nothing and refunds everything', () => {
    const { t, lease, escrow: locked } = withLease();
    const alice0 = escrow(t, alice.address);
    t.tx(alice, 'lease.close', { lease });
    expect(t.ledger.lease(lease)!.charged).toBe(0n);
    expect(escrow(t, alice.address) - alice0).toBe(locked);
    expect(t.ledger.vesting(host.address)).toEqual([]);
  });

  it('only the user or the container can close; a closed lease cannot be closed or settled again', () => {
    const { t, lease } = withLease();
    t.advance(60_000);
    for (const k of [bob, stranger, checkers[0], host2, governor])
      t.expectRejectTx(k, 'lease.close', { lease }, 'UNAUTHORIZED');
    t.expectRejectTx(alice, 'lease.close', { lease: 'Lnope' }, 'NOT_FOUND');
    t.expectRejectTx(alice, 'lease.close', { lease: 'bad id!' }, 'INVALID_TRANSACTION');
    t.tx(alice, 'lease.close', { lease });
    t.expectRejectTx(alice, 'lease.close', { lease }, 'CONFLICT');
    t.expectRejectTx(host, 'lease.close', { lease }, 'CONFLICT');
    t.expectRejectTx(host, 'lease.settle', { lease }, 'CONFLICT');
  });

  it('only the container settles', () => {
    const { t, lease } = withLease();
    t.advance(60_000);
    for (const k of [alice, bob, stranger, checkers[1]])
      t.expectRejectTx(k, 'lease.settle', { lease }, 'UNAUTHORIZED');
    t.expectRejectTx(host, 'lease.settle', { lease: 'Lmissing' }, 'NOT_FOUND');
    const r = t.settle(host, lease);
    const due = (PRICE * 2n * 60_000n) / BigInt(HOUR_MS);
    expect(r).toEqual({ lease, charged: due.toString(), servedMs: 60_000 });
    expect(t.ledger.lease(lease)).toMatchObject({
      status: 'open',
      charged: due,
      settledAt: t.time,
      lastReceiptSeq: 1,
      receiptServedMs: 60_000,
    });
  });

  it('settling twice at the same time charges nothing more', () => {
    const { t, lease } = withLease();
    t.advance(10_000);
    t.settle(host, lease);
    const l1 = t.ledger.lease(lease)!;
    const vested1 = t.vestedTotal(host.address);
    t.settle(host, lease);
    expect(t.ledger.lease(lease)!.charged).toBe(l1.charged);
    expect(t.vestedTotal(host.address)).toBe(vested1);
  });

  it('cumulative settles split exactly like one settle: host + protocol == charged, no unit lost', () => {
    // an awkward price makes every per-millisecond charge fractional
    const price = 1_000_000_007n;
    const gpus = 3;
    const steps = [1, 7, 333, 1001, 59_999, 3_600_001, 17, 123_457];
    const make = () => {
      const t = new TestNet();
      t.onlineContainer(host, 4, price);
      t.deposit(alice, ath(1));
      const r = t.tx(alice, 'lease.open', leasePayload(host.address, gpus, 2 * 3600, price));
      return { t, lease: r.lease as string };
    };
    const many = make();
    const once = make();
    const tr0 = many.t.ledger.treasury().balance;
    let elapsed = 0;
    for (const ms of steps) {
      many.t.advance(ms);
      elapsed += ms;
      many.t.settle(host, many.lease);
      const l = many.t.ledger.lease(many.lease)!;
      const expectedDue = (price * BigInt(gpus) * BigInt(Math.min(elapsed, 2 * HOUR_MS))) / BigInt(HOUR_MS);
      expect(l.charged).toBe(expectedDue);
      expect(l.hostShare).toBe(mulBps(l.charged, 8000));
      expect(l.hostShare + l.protocolShare).toBe(l.charged);
      expect(many.t.vestedTotal(host.address)).toBe(l.hostShare);
      expect(many.t.ledger.treasury().balance - tr0).toBe(l.protocolShare);
      expect(many.t.ledger.container(host.address)!.earned).toBe(l.hostShare);
      conserved(many.t);
    }
    once.t.advance(elapsed);
    once.t.settle(host, once.lease);
    const a = many.t.ledger.lease(many.lease)!;
    const b = once.t.ledger.lease(once.lease)!;
    expect([a.charged, a.hostShare, a.protocolShare]).toEqual([b.charged, b.hostShare, b.protocolShare]);
    // closing afterwards: user paid exactly what host + treasury received
    const alice0 = escrow(many.t, alice.address) + a.escrow; // what alice had in escrow before opening
    many.t.advance(1);
    many.t.tx(alice, 'lease.close', { lease: many.lease });
    const c = many.t.ledger.lease(many.lease)!;
    expect(alice0 - escrow(many.t, alice.address)).toBe(c.charged);
    expect(many.t.vestedTotal(host.address) + (many.t.ledger.treasury().balance - tr0)).toBe(c.charged);
  });

  it('the split follows feeHostBps from the genesis params', () => {
    const t = new TestNet(makeGenesis({ feeHostBps: 9000 }));
    t.onlineContainer(host, 1, ath(1));
    t.deposit(alice, ath(1));
    const { lease } = t.tx(alice, 'lease.open', leasePayload(host.address, 1, 3600, ath(1)));
    t.advance(HOUR_MS);
    t.tx(alice, 'lease.close', { lease });
    expect(t.ledger.lease(lease as string)).toMatchObject({
      hostShare: ath('0.9'),
      protocolShare: ath('0.1'),
    });
  });

  it('charge never exceeds the escrow, even long after the max duration', () => {
    const { t, lease, escrow: locked } = withLease();
    const alice0 = escrow(t, alice.address);
    t.advance(2 * HOUR_MS - 1);
    t.settle(host, lease);
    expect(t.ledger.lease(lease)!.charged).toBeLessThan(locked);
    t.advance(1);
    t.settle(host, lease);
    expect(t.ledger.lease(lease)!.charged).toBe(locked);
    t.advance(100 * HOUR_MS);
    t.settle(host, lease);
    const settled = t.ledger.lease(lease)!;
    expect(settled.charged).toBe(locked);
    // settledAt stops at the end of the lease
    expect(settled.settledAt).toBe(settled.openedAt + 7200 * 1000);
    t.advance(365 * 24 * HOUR_MS);
    const r = t.tx(alice, 'lease.close', { lease });
    expect(r).toMatchObject({ charged: locked.toString(), refund: '0' });
    expect(escrow(t, alice.address)).toBe(alice0);
    const l = t.ledger.lease(lease)!;
    expect(l.hostShare + l.protocolShare).toBe(locked);
    expect(l.hostShare).toBe(ath('6.4'));
    conserved(t);
  });

  it('the block time is the only clock: the same txs at the same times give the same root', () => {
    const { t } = withLease();
    const replay = Ledger.fromGenesis(t.genesis);
    for (const a of t.accepted) replay.apply(a.tx, a);
    expect(replay.root()).toBe(t.ledger.root());
    // the same txs at other times give another root (openedAt differs)
    const shifted = Ledger.fromGenesis(t.genesis);
    for (const a of t.accepted) shifted.apply(a.tx, { ...a, time: a.time + 1 });
    expect(shifted.root()).not.toBe(t.ledger.root());
  });
});

describe('state proofs', () => {
  it('proves an account against the root', () => {
    const t = new TestNet();
    t.tx(alice, 'transfer', { to: bob.address, amount: UNIT });
    const p = t.ledger.state.prove(`acct/${bob.address}`)!;
    expect(verifyMerkleProof(Buffer.from(p.leaf, 'hex'), p.proof, Buffer.from(t.ledger.root(), 'hex'))).toBe(
      true,
    );
    expect(t.ledger.state.prove('acct/nobody')).toBeUndefined();
  });
});
