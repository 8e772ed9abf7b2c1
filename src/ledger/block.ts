import { canonicalize } from '../core/canonical.js';
import { sha256Hex } from '../core/encoding.js';
import { AethirError } from '../core/errors.js';
import { genesisHash, type Genesis } from './genesis.js';
import { Ledger } from './machine.js';
import { txId, type SignedTx } from './tx.js';

/**
 * A block is a batch of transactions applied in order at one block time, sealed with the
 * state root after them and linked to its predecessor by hash. Height 0 is genesis.
 */
export interface Block {
  height: number;
  time: number;
  prevHash: string;
  txs: SignedTx[];
  root: string;
  hash: string;
}

/** `txIds`: the ids of b.txs when the caller has them (they are recomputed otherwise). */
export function blockHash(b: Omit<Block, 'hash'>, txIds?: readonly string[]): string {
  return sha256Hex(
    canonicalize({
      height: b.height,
      time: b.time,
      prevHash: b.prevHash,
      root: b.root,
      txs: txIds ?? b.txs.map((t) => txId(t)),
    }),
  );
}

export function genesisBlock(g: Genesis, ledger: Ledger): Block {
  const b = { height: 0, time: g.time, prevHash: genesisHash(g), txs: [], root: ledger.root() };
  return { ...b, hash: blockHash(b) };
}

export interface VerifyReport {
  ok: boolean;
  height: number;
  blocks: number;
  txs: number;
  root: string;
  error?: { height: number; message: string };
}

/**
 * Replays a chain from genesis and checks every link, every transaction and every state root.
 * Anyone holding the log can run it: it trusts nothing but the genesis.
 */
export function verifyChain(
  genesis: Genesis,
  blocks: Iterable<Block>,
  onProgress?: (height: number) => void,
): VerifyReport {
  const ledger = Ledger.fromGenesis(genesis);
  let prev: Block | null = null;
  let n = 0;
  let txs = 0;
  const fail = (height: number, message: string): VerifyReport => ({
    ok: false,
    height: prev?.height ?? -1,
    blocks: n,
    txs,
    root: ledger.root(),
    error: { height, message },
  });
  for (const b of blocks) {
    if (prev === null) {
      const g = genesisBlock(genesis, ledger);
      if (b.height !== 0 || b.hash !== g.hash || b.root !== g.root || blockHash(b) !== b.hash)
        return fail(b.height, 'genesis block does not match the genesis');
    } else {
      if (b.height !== prev.height + 1) return fail(b.height, `expected height ${prev.height + 1}`);
      if (b.prevHash !== prev.hash) return fail(b.height, 'previous-hash link is broken');
      if (b.time < prev.time) return fail(b.height, 'block time goes backwards');
      for (const tx of b.txs) {
        try {
          ledger.apply(tx, { height: b.height, time: b.time, prevHash: b.prevHash });
        } catch (e) {
          return fail(
            b.height,
            `transaction ${txId(tx).slice(0, 16)} does not apply: ${(e as Error).message}`,
          );
        }
        txs++;
      }
      if (ledger.root() !== b.root)
        return fail(
          b.height,
          `state root mismatch: log says ${b.root.slice(0, 16)}…, replay gives ${ledger.root().slice(0, 16)}…`,
        );
      if (blockHash(b) !== b.hash) return fail(b.height, 'block hash does not match its contents');
    }
    prev = b;
    n++;
    onProgress?.(b.height);
  }
  if (!prev) throw new AethirError('STORE_CORRUPT', 'the log is empty: no genesis block');
  if (ledger.totalHeld() !== ledger.chain.supply) return fail(prev.height, 'supply is not conserved');
  return { ok: true, height: prev.height, blocks: n, txs, root: ledger.root() };
}
