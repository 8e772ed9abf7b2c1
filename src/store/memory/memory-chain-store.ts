import { canonicalize, decodeCanonical } from '../../core/canonical.js';
import { AethirError } from '../../core/errors.js';
import type { Block } from '../../ledger/block.js';
import { genesisToWire, parseGenesis, type Genesis } from '../../ledger/genesis.js';
import { txId, type SignedTx } from '../../ledger/tx.js';
import type { ChainStore, TxRecord } from '../ports.js';

interface HeldBlock {
  /** the block as JSON: every read parses a fresh copy, so callers cannot alter what is held */
  json: string;
  time: number;
  txs: Array<{ id: string; type: string; from: string }>;
}

/**
 * The chain store in memory (tests, ephemeral replicas): the SQLite store's semantics, with
 * values held in canonical encoding for the same reason the database holds them so: what a
 * caller reads is decoded afresh and bigints round-trip.
 */
export class MemoryChainStore implements ChainStore {
  /** in wire form, read back through parseGenesis like the SQLite store's */
  private genesis: string | undefined;
  private readonly held = new Map<number, HeldBlock>();
  /** held heights in ascending order */
  private readonly heights: number[] = [];
  private readonly txIndex = new Map<string, { height: number; index: number }>();
  private readonly state = new Map<string, string>();

  readGenesis(): Genesis | undefined {
    return this.genesis === undefined ? undefined : parseGenesis(JSON.parse(this.genesis));
  }

  init(genesis: Genesis, block0: Block, state: Iterable<[string, unknown]>): void {
    if (this.genesis) throw new AethirError('CONFLICT', 'this store already holds a chain');
    const encoded = [...state].map(([k, v]): [string, string] => [k, canonicalize(v)]);
    const wire = JSON.stringify(genesisToWire(genesis));
    const held = this.prepare(block0);
    this.genesis = wire;
    this.commit(block0.height, held);
    for (const [k, v] of encoded) this.state.set(k, v);
  }

  append(block: Block, changes: Iterable<[string, unknown | undefined]>, txIds?: readonly string[]): void {
    // everything that can fail runs before the first write, which is what makes the append atomic
    const encoded = [...changes].map(([k, v]): [string, string | undefined] => [
      k,
      v === undefined ? undefined : canonicalize(v),
    ]);
    const held = this.prepare(block, txIds);
    this.commit(block.height, held);
    for (const [k, v] of encoded) {
      if (v === undefined) this.state.delete(k);
      else this.state.set(k, v);
    }
  }

  private prepare(b: Block, txIds?: readonly string[]): HeldBlock {
    if (this.held.has(b.height)) throw new AethirError('CONFLICT', `block ${b.height} is already held`);
    const txs = b.txs.map((tx, i) => ({ id: txIds?.[i] ?? txId(tx), type: tx.type, from: tx.from }));
    const ids = new Set(txs.map((t) => t.id));
    if (ids.size !== txs.length || txs.some((t) => this.txIndex.has(t.id)))
      throw new AethirError('CONFLICT', `block ${b.height} holds a transaction that is already held`);
    const { height, time, prevHash, root, hash } = b;
    return { json: JSON.stringify({ height, time, prevHash, root, hash, txs: b.txs }), time, txs };
  }

  private commit(height: number, held: HeldBlock): void {
    this.held.set(height, held);
    held.txs.forEach((t, index) => this.txIndex.set(t.id, { height, index }));
    // blocks arrive in height order, so this is an append save for out-of-order writers
    let i = this.heights.length;
    while (i > 0 && this.heights[i - 1]! > height) i--;
    this.heights.splice(i, 0, height);
  }

  head(): Block | undefined {
    return this.block(this.heights.at(-1) ?? -1);
  }

  block(height: number): Block | undefined {
    const h = this.held.get(height);
    return h && (JSON.parse(h.json) as Block);
  }

  *blocks(fromHeight = 0): Iterable<Block> {
    // by index into a growing list, so blocks appended while a reader iterates are seen
    for (let i = this.heights.findIndex((h) => h >= fromHeight); i >= 0 && i < this.heights.length; i++)
      yield this.block(this.heights[i]!)!;
  }

  recentBlocks(limit: number): Block[] {
    const out: Block[] = [];
    for (let i = this.heights.length - 1; i >= 0 && out.length < limit; i--)
      out.push(this.block(this.heights[i]!)!);
    return out;
  }

  tx(id: string): TxRecord | undefined {
    const at = this.txIndex.get(id);
    if (!at) return undefined;
    const b = this.block(at.height)!;
    return { id, height: at.height, index: at.index, time: b.time, tx: b.txs[at.index]! };
  }

  recentTxs(limit: number, filter: { from?: string; type?: string } = {}): TxRecord[] {
    const out: TxRecord[] = [];
    for (let i = this.heights.length - 1; i >= 0 && out.length < limit; i--) {
      const height = this.heights[i]!;
      const h = this.held.get(height)!;
      let txs: SignedTx[] | undefined;
      for (let index = h.txs.length - 1; index >= 0 && out.length < limit; index--) {
        const t = h.txs[index]!;
        if ((filter.from && t.from !== filter.from) || (filter.type && t.type !== filter.type)) continue;
        txs ??= (JSON.parse(h.json) as Block).txs;
        out.push({ id: t.id, height, index, time: h.time, tx: txs[index]! });
      }
    }
    return out;
  }

  loadState(): Iterable<[string, unknown]> {
    return [...this.state].map(([k, v]): [string, unknown] => [k, decodeCanonical(v)]);
  }

  close(): void {}
}
