import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { canonicalize, decodeCanonical } from '../../core/canonical.js';
import { AethirError } from '../../core/errors.js';
import type { Block } from '../../ledger/block.js';
import { genesisToWire, parseGenesis, type Genesis } from '../../ledger/genesis.js';
import { txId, type SignedTx } from '../../ledger/tx.js';
import {
  createPrivateFile,
  type ModeLog,
  PRIVATE_DIR_MODE,
  tightenPrivateFile,
} from '../../core/private-files.js';
import type { ChainStore, TxRecord } from '../ports.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
  height INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  prev_hash TEXT NOT NULL,
  root TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  txs TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS txs (
  id TEXT PRIMARY KEY,
  height INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  type TEXT NOT NULL,
  sender TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS txs_sender ON txs (sender, height);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

interface BlockRow {
  height: number;
  time: number;
  prev_hash: string;
  root: string;
  hash: string;
  txs: string;
}

/** Embedded default: log and state in one SQLite file (WAL), one transaction per block. */
export class SqliteChainStore implements ChainStore {
  private readonly db: Database.Database;
  private readonly stmts;

  /**
   * `synchronous`: FULL (default) makes every block durable against power loss, as the embedded
   * sequencer must (its log is this file). A replica of the JetStream log may take NORMAL: WAL
   * still survives a process crash, and after a power loss the replica re-reads what it lost from
   * the log, which is the durable copy.
   */
  constructor(path: string, opts: { synchronous?: 'FULL' | 'NORMAL'; log?: ModeLog } = {}) {
    if (path !== ':memory:') {
      // The ledger is the node's state: 0600, in a directory created 0700 (an existing one is the
      // caller's: the node tightens its data directory, `ledger verify` may be pointed anywhere).
      // SQLite gives the -wal and -shm it creates the database file's mode, so creating that file
      // 0600 first covers all three.
      mkdirSync(dirname(path), { recursive: true, mode: PRIVATE_DIR_MODE });
      createPrivateFile(path);
      for (const file of [path, `${path}-wal`, `${path}-shm`]) tightenPrivateFile(file, opts.log);
    }
    try {
      this.db = new Database(path);
    } catch (e) {
      throw new AethirError(
        'STORE_CORRUPT',
        `cannot open the ledger database ${path}: ${(e as Error).message}`,
        { cause: e },
      );
    }
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode is durable against process crashes; FULL also against power loss.
    this.db.pragma(`synchronous = ${opts.synchronous === 'NORMAL' ? 'NORMAL' : 'FULL'}`);
    this.db.exec(SCHEMA);
    this.stmts = {
      getMeta: this.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      putMeta: this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)'),
      insertBlock: this.db.prepare(
        'INSERT INTO blocks (height, time, prev_hash, root, hash, txs) VALUES (@height, @time, @prev_hash, @root, @hash, @txs)',
      ),
      insertTx: this.db.prepare('INSERT INTO txs (id, height, idx, type, sender) VALUES (?, ?, ?, ?, ?)'),
      head: this.db.prepare<[], BlockRow>('SELECT * FROM blocks ORDER BY height DESC LIMIT 1'),
      block: this.db.prepare<[number], BlockRow>('SELECT * FROM blocks WHERE height = ?'),
      blocksFrom: this.db.prepare<[number], BlockRow>(
        'SELECT * FROM blocks WHERE height >= ? ORDER BY height',
      ),
      recentBlocks: this.db.prepare<[number], BlockRow>('SELECT * FROM blocks ORDER BY height DESC LIMIT ?'),
      tx: this.db.prepare<[string], { id: string; height: number; idx: number }>(
        'SELECT id, height, idx FROM txs WHERE id = ?',
      ),
      putState: this.db.prepare('INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)'),
      delState: this.db.prepare('DELETE FROM state WHERE key = ?'),
      allState: this.db.prepare<[], { key: string; value: string }>('SELECT key, value FROM state'),
    };
  }

  readGenesis(): Genesis | undefined {
    const row = this.stmts.getMeta.get('genesis');
    return row ? parseGenesis(JSON.parse(row.value)) : undefined;
  }

  init(genesis: Genesis, block0: Block, state: Iterable<[string, unknown]>): void {
    this.db.transaction(() => {
      if (this.stmts.getMeta.get('genesis'))
        throw new AethirError('CONFLICT', 'this store already holds a chain');
      this.stmts.putMeta.run('genesis', JSON.stringify(genesisToWire(genesis)));
      this.writeBlock(block0);
      for (const [k, v] of state) this.stmts.putState.run(k, canonicalize(v));
    })();
  }

  append(block: Block, changes: Iterable<[string, unknown | undefined]>, txIds?: readonly string[]): void {
    this.db.transaction(() => {
      this.writeBlock(block, txIds);
      for (const [k, v] of changes) {
        if (v === undefined) this.stmts.delState.run(k);
        else this.stmts.putState.run(k, canonicalize(v));
      }
    })();
  }

  private writeBlock(b: Block, txIds?: readonly string[]): void {
    this.stmts.insertBlock.run({
      height: b.height,
      time: b.time,
      prev_hash: b.prevHash,
      root: b.root,
      hash: b.hash,
      txs: JSON.stringify(b.txs),
    });
    b.txs.forEach((tx, i) => this.stmts.insertTx.run(txIds?.[i] ?? txId(tx), b.height, i, tx.type, tx.from));
  }

  head(): Block | undefined {
    const r = this.stmts.head.get();
    return r ? toBlock(r) : undefined;
  }

  block(height: number): Block | undefined {
    const r = this.stmts.block.get(height);
    return r ? toBlock(r) : undefined;
  }

  *blocks(fromHeight = 0): Iterable<Block> {
    for (const r of this.stmts.blocksFrom.iterate(fromHeight)) yield toBlock(r);
  }

  recentBlocks(limit: number): Block[] {
    return this.stmts.recentBlocks.all(limit).map(toBlock);
  }

  tx(id: string): TxRecord | undefined {
    const r = this.stmts.tx.get(id);
    if (!r) return undefined;
    const b = this.block(r.height)!;
    return { id, height: r.height, index: r.idx, time: b.time, tx: b.txs[r.idx]! };
  }

  recentTxs(limit: number, filter: { from?: string; type?: string } = {}): TxRecord[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.from) {
      where.push('sender = ?');
      args.push(filter.from);
    }
    if (filter.type) {
      where.push('type = ?');
      args.push(filter.type);
    }
    const rows = this.db
      .prepare<unknown[], { id: string; height: number; idx: number; time: number; txs: string }>(
        `SELECT t.id, t.height, t.idx, b.time, b.txs FROM txs t JOIN blocks b ON b.height = t.height
         ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY t.height DESC, t.idx DESC LIMIT ?`,
      )
      .all(...args, limit);
    return rows.map((r) => ({
      id: r.id,
      height: r.height,
      index: r.idx,
      time: r.time,
      tx: (JSON.parse(r.txs) as SignedTx[])[r.idx]!,
    }));
  }

  *loadState(): Iterable<[string, unknown]> {
    for (const r of this.stmts.allState.iterate()) {
      let value: unknown;
      try {
        value = decodeCanonical(r.value);
      } catch (e) {
        const why = (e as Error).message;
        throw new AethirError('STORE_CORRUPT', `state row ${r.key} does not decode: ${why}`, { cause: e });
      }
      yield [r.key, value];
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function toBlock(r: BlockRow): Block {
  return {
    height: r.height,
    time: r.time,
    prevHash: r.prev_hash,
    root: r.root,
    hash: r.hash,
    txs: JSON.parse(r.txs),
  };
}
