import { describe, expect, it } from 'vitest';
import { AethirError, ath } from '../../../src/core/index.js';
import {
  Ledger,
  blockHash,
  genesisBlock,
  genesisHash,
  verifyChain,
  type Block,
} from '../../../src/ledger/index.js';
import {
  DAY_MS,
  TestNet,
  alice,
  bob,
  carol,
  governor,
  host,
  host2,
  leasePayload,
  makeGenesis,
} from './fixtures.js';

/** Seals every accepted tx of `t` into its own block, replaying to get each block's root. */
function blocksOf(t: TestNet): Block[] {
  const replay = Ledger.fromGenesis(t.genesis);
  const blocks: Block[] = [genesisBlock(t.genesis, replay)];
  for (const a of t.accepted) {
    const prev = blocks[blocks.length - 1]!;
    replay.apply(a.tx, { height: a.height, time: a.time, prevHash: prev.hash });
    const partial = { height: a.height, time: a.time, prevHash: prev.hash, txs: [a.tx], root: replay.root() };
    blocks.push({ ...partial, hash: blockHash(partial) });
  }
  return blocks;
}

/** A short valid chain: one tx per block, blocks one second apart. */
function buildChain(): { blocks: Block[]; t: TestNet } {
  const t = new TestNet();
  t.advance(1000).tx(alice, 'transfer', { to: bob.address, amount: ath(5) });
  t.advance(1000).tx(bob, 'transfer', { to: carol.address, amount: ath(1) });
  t.advance(1000).tx(alice, 'transfer', { to: carol.address, amount: 3n });
  return { blocks: blocksOf(t), t };
}

function relink(blocks: Block[], from: number): Block[] {
  const out = blocks.slice();
  for (let j = from; j < out.length; j++) {
    const { hash: _h, ...rest } = out[j]!;
    const partial = j === 0 ? rest : { ...rest, prevHash: out[j - 1]!.hash };
    out[j] = { ...partial, hash: blockHash(partial) };
  }
  return out;
}

describe('blocks and verifyChain', () => {
  it('the genesis block links to the genesis hash and holds the genesis root', () => {
    const g = makeGenesis();
    const l = Ledger.fromGenesis(g);
    const b0 = genesisBlock(g, l);
    expect(b0).toMatchObject({ height: 0, time: g.time, prevHash: genesisHash(g), txs: [], root: l.root() });
    expect(b0.hash).toBe(blockHash(b0));
  });

  it('blockHash covers height, time, link, root and txs', () => {
    const { blocks } = buildChain();
    const b = blocks[2]!;
    const h = blockHash(b);
    expect(blockHash({ ...b, height: b.height + 1 })).not.toBe(h);
    expect(blockHash({ ...b, time: b.time + 1 })).not.toBe(h);
    expect(blockHash({ ...b, prevHash: blocks[0]!.hash })).not.toBe(h);
    expect(blockHash({ ...b, root: blocks[1]!.root })).not.toBe(h);
    expect(blockHash({ ...b, txs: [] })).not.toBe(h);
    expect(blockHash({ ...b, txs: [{ ...b.txs[0]!, sig: 'f'.repeat(128) }] })).not.toBe(h);
  });

  it('accepts a valid chain and reports its head', () => {
    const { blocks, t } = buildChain();
    const progress: number[] = [];
    const r = verifyChain(t.genesis, blocks, (h) => progress.push(h));
    expect(r).toEqual({ ok: true, height: 3, blocks: 4, txs: 3, root: t.ledger.root() });
    expect(progress).toEqual([0, 1, 2, 3]);
    // a genesis-only log is valid too
    expect(verifyChain(t.genesis, blocks.slice(0, 1))).toMatchObject({ ok: true, height: 0, txs: 0 });
  });

  it('throws STORE_CORRUPT on an empty log', () => {
    const g = makeGenesis();
    expect(() => verifyChain(g, [])).toThrow(AethirError);
    try {
      verifyChain(g, []);
    } catch (e) {
      expect((e as AethirError).code).toBe('STORE_CORRUPT');
    }
  });

  it('rejects a log from another genesis', () => {
    const { blocks } = buildChain();
    const other = makeGenesis({ feeHostBps: 9000 });
    const r = verifyChain(other, blocks);
    expect(r.ok).toBe(false);
    expect(r.error!.height).toBe(0);
  });

  it('rejects a tampered genesis block even when its hash is recomputed or kept', () => {
    const { blocks, t } = buildChain();
    const b0 = blocks[0]!;
    const foreignTx = blocks[1]!.txs[0]!;
    const variants: Array<Omit<Block, 'hash'>> = [
      { ...b0, txs: [foreignTx] },
      { ...b0, time: b0.time + 5 },
      { ...b0, prevHash: '0'.repeat(64) },
      { ...b0, height: 1 },
      { ...b0, root: blocks[1]!.root },
    ];
    for (const v of variants) {
      // the stored hash kept as it was (contents changed underneath)...
      const kept = blocks.slice();
      kept[0] = { ...v, hash: b0.hash };
      expect(verifyChain(t.genesis, kept).ok, JSON.stringify(v).slice(0, 80)).toBe(false);
      // ...or recomputed and the rest of the chain relinked
      const recomputed = blocks.slice();
      recomputed[0] = { ...v, hash: '' };
      expect(verifyChain(t.genesis, relink(recomputed, 0)).ok).toBe(false);
    }
  });

  it('rejects a broken link, a height gap, time going backwards and a bad block hash', () => {
    const { blocks, t } = buildChain();
    const b2 = blocks[2]!;
    const cases: Array<[string, Block[]]> = [
      ['broken link', [...blocks.slice(0, 2), { ...b2, prevHash: blocks[0]!.hash }, ...blocks.slice(3)]],
      ['height gap', [blocks[0]!, blocks[1]!, blocks[3]!]],
      ['reordered', [blocks[0]!, blocks[2]!, blocks[1]!, blocks[3]!]],
      ['duplicated', [blocks[0]!, blocks[1]!, blocks[1]!]],
      ['bad hash', [...blocks.slice(0, 2), { ...b2, hash: 'ab'.repeat(32) }, ...blocks.slice(3)]],
      ['hash kept, time changed', [...blocks.slice(0, 2), { ...b2, time: b2.time + 1 }, ...blocks.slice(3)]],
      [
        'time backwards',
        relink([...blocks.slice(0, 2), { ...b2, time: blocks[1]!.time - 1 }, ...blocks.slice(3)], 2),
      ],
      ['tx dropped', relink([...blocks.slice(0, 2), { ...b2, txs: [] }, ...blocks.slice(3)], 2)],
      [
        'root tampered',
        relink([...blocks.slice(0, 2), { ...b2, root: blocks[1]!.root }, ...blocks.slice(3)], 2),
      ],
      [
        'tx tampered',
        relink(
          [
            ...blocks.slice(0, 2),
            { ...b2, txs: [{ ...b2.txs[0]!, payload: { ...b2.txs[0]!.payload, amount: '2' } }] },
            ...blocks.slice(3),
          ],
          2,
        ),
      ],
    ];
    // where each breaks (the block at that height is the first not accepted) and what is said
    const root = (h: number) => blocks[h]!.root.slice(0, 16);
    const expected: Record<string, { height: number; lastGood: number; message: string | RegExp }> = {
      'broken link': { height: 2, lastGood: 1, message: 'previous-hash link is broken' },
      'height gap': { height: 3, lastGood: 1, message: 'expected height 2' },
      reordered: { height: 2, lastGood: 0, message: 'expected height 1' },
      duplicated: { height: 1, lastGood: 1, message: 'expected height 2' },
      'bad hash': { height: 2, lastGood: 1, message: 'block hash does not match its contents' },
      'hash kept, time changed': {
        height: 2,
        lastGood: 1,
        message: 'block hash does not match its contents',
      },
      'time backwards': { height: 2, lastGood: 1, message: 'block time goes backwards' },
      'tx dropped': {
        height: 2,
        lastGood: 1,
        message: `state root mismatch: log says ${root(2)}…, replay gives ${root(1)}…`,
      },
      'root tampered': {
        height: 2,
        lastGood: 1,
        message: `state root mismatch: log says ${root(1)}…, replay gives ${root(2)}…`,
      },
      'tx tampered': {
        height: 2,
        lastGood: 1,
        message: /^transaction [0-9a-f]{16} does not apply: signature does not verify$/,
      },
    };
    expect(Object.keys(expected)).toEqual(cases.map(([name]) => name));
    for (const [name, log] of cases) {
      const r = verifyChain(t.genesis, log);
      const want = expected[name]!;
      expect(r.ok, name).toBe(false);
      expect(r.height, name).toBe(want.lastGood);
      expect(r.error!.height, name).toBe(want.height);
      if (typeof want.message === 'string') expect(r.error!.message, name).toBe(want.message);
      else expect(r.error!.message, name).toMatch(want.message);
    }
  });

  it('rejects a valid re-signed tx that does not match the sealed root', () => {
    const { blocks, t } = buildChain();
    const b3 = blocks[3]!;
    // alice re-signs her nonce-1 tx with another amount: it applies, but the root differs
    const forged = t.sign(alice, 'transfer', { to: carol.address, amount: 4n }, 1);
    const log = relink([...blocks.slice(0, 3), { ...b3, txs: [forged] }], 3);
    const r = verifyChain(t.genesis, log);
    expect(r.ok).toBe(false);
    expect(r.error!.message).toMatch(/state root mismatch/);
  });

  it('replays leases deterministically from block times', () => {
    const t = new TestNet();
    t.onlineContainer(host, 2, ath(1));
    t.deposit(alice, ath(10));
    const { lease } = t.advance(1000).tx(alice, 'lease.open', leasePayload(host.address, 2, 3600, ath(1)));
    t.advance(1_234_567).settle(host, lease);
    t.advance(7_654_321).tx(alice, 'lease.close', { lease });
    const blocks = blocksOf(t);
    expect(blocks[blocks.length - 1]!.root).toBe(t.ledger.root());
    expect(verifyChain(t.genesis, blocks)).toMatchObject({
      ok: true,
      txs: t.accepted.length,
      root: t.ledger.root(),
    });
  });

  it('replays the whole economics (escrow, slashes, epochs, checker days, claims, governance) to the same roots', () => {
    const t = new TestNet(makeGenesis({ epochMs: DAY_MS / 4, hostVestingMs: DAY_MS }));
    t.onlineContainer(host, 2, ath(1));
    t.onlineContainer(host2, 1, ath(1));
    t.deposit(alice, ath(50));
    const { lease } = t.advance(1000).tx(alice, 'lease.open', leasePayload(host.address, 1, 3600, ath(1)));
    t.advance(600_000).settle(host, lease);
    t.advance(600_000).report(host.address, false, 0);
    t.report(host.address, false, 2); // down while serving: lease closed, host slashed
    t.tx(governor, 'params.update', { changes: { feeHostBps: 8500 } });
    t.advance(1000).report(host2.address, true, 1, 'capacity');
    t.report(host2.address, true, 2, 'capacity');
    t.closeEpochsThrough(3); // a day: capacity rewards and the checkers' day pool
    t.advance(2 * DAY_MS).tx(host2, 'vesting.claim', {});
    t.tx(host2, 'container.unstake', { amount: ath(1) });
    const blocks = blocksOf(t);
    expect(t.ledger.lease(lease as string)!.status).toBe('closed');
    expect(t.ledger.container(host.address)!.slashed).toBeGreaterThan(0n);
    expect(t.ledger.economics.lastCheckerDay).toBe(0);
    expect(verifyChain(t.genesis, blocks)).toMatchObject({
      ok: true,
      txs: t.accepted.length,
      root: t.ledger.root(),
    });
    // the same log against a genesis with other economics does not verify
    const other = makeGenesis({ epochMs: DAY_MS / 4, hostVestingMs: DAY_MS, slashDowntimeBps: 1 });
    expect(verifyChain(other, blocks).ok).toBe(false);
  });
});
