import pg from 'pg';
import { canonicalize, decodeCanonical } from '../../core/canonical.js';
import { AethirError } from '../../core/errors.js';
import type { Block } from '../../ledger/block.js';
import { genesisToWire, parseGenesis, type Genesis } from '../../ledger/genesis.js';
import { txId, type SignedTx } from '../../ledger/tx.js';
import type { AsyncChainStore, TxRecord } from '../ports.js';
import { migrate } from './migrations.js';

export interface PgChainStoreOptions {
  /** postgres://user:password@host:port/database */
  url: string;
  /** the schema holding this store's tables (created if missing): one chain per schema */
  schema: string;
  /** default 4: a replica writes from one loop, the rest serve reads */
  poolSize?: number;
  /** how long a connection attempt may take before the store reports UNAVAILABLE (default 5 s) */
  connectTimeoutMs?: number;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/** rows per upsert statement: bounds the size of one message on a big genesis or snapshot state */
const CHUNK = 5_000;

/** heights and times come back as strings (BIGINT) */
interface BlockRow {
  height: string;
  time: string;
  prev_hash: string;
  root: string;
  hash: string;
  txs: string;
}

/**
 * The chain store in PostgreSQL, so that a replica's materialized state can live in a database
 * that other tools query. Tables mirror the SQLite store's; the schema is migrated on open.
 */
export class PgChainStore implements AsyncChainStore {
  readonly kind = 'postgres';
  private closed = false;
  /** the schema name, quoted: validated on open, so safe to splice into SQL */
  private readonly s: string;

  private constructor(
    private readonly pool: pg.Pool,
    readonly schema: string,
    private readonly where: string,
  ) {
    this.s = `"${schema}"`;
  }

  static async open(opts: PgChainStoreOptions): Promise<PgChainStore> {
    if (!SCHEMA_NAME.test(opts.schema))
      throw new AethirError(
        'INVALID_ARGUMENT',
        `invalid PostgreSQL schema name ${JSON.stringify(opts.schema)}: use lower-case letters, digits and _ (at most 63, not starting with a digit)`,
      );
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 4,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5_000,
      application_name: 'aethir',
    });
    // An idle connection that drops (server restart) is reported here; without a listener it
    // would crash the process. The next query gets a fresh connection or reports UNAVAILABLE.
    pool.on('error', () => {});
    const store = new PgChainStore(pool, opts.schema, endpointOf(opts.url));
    try {
      const client = await pool.connect();
      try {
        await migrate(client, opts.schema);
      } finally {
        client.release();
      }
    } catch (e) {
      await pool.end().catch(() => {});
      throw store.mapError(e);
    }
    return store;
  }

  async readGenesis(): Promise<Genesis | undefined> {
    const [row] = await this.query<{ value: string }>(
      `SELECT value FROM ${this.s}.meta WHERE key = 'genesis'`,
    );
    return row ? parseGenesis(JSON.parse(row.value)) : undefined;
  }

  async init(genesis: Genesis, first: Block, state: Iterable<[string, unknown]>): Promise<void> {
    const wire = JSON.stringify(genesisToWire(genesis));
    const puts = [...state].map(([k, v]): [string, string] => [k, canonicalize(v)]);
    await this.transaction(async (c) => {
      // ON CONFLICT rather than a read first: of two concurrent inits, the second waits on the
      // key and then inserts nothing, instead of both seeing an empty store
      const { rowCount } = await c.query(
        `INSERT INTO ${this.s}.meta (key, value) VALUES ('genesis', $1) ON CONFLICT (key) DO NOTHING`,
        [wire],
      );
      if (!rowCount) throw new AethirError('CONFLICT', 'this store already holds a chain');
      await this.writeBlock(c, first);
      await this.upsert(c, puts);
    });
  }

  async append(
    block: Block,
    changes: Iterable<[string, unknown | undefined]>,
    txIds?: readonly string[],
  ): Promise<void> {
    // last write per key wins, and one statement may not upsert the same key twice
    const latest = new Map<string, string | undefined>();
    for (const [k, v] of changes) latest.set(k, v === undefined ? undefined : canonicalize(v));
    const puts: Array<[string, string]> = [];
    const dels: string[] = [];
    for (const [k, v] of latest) {
      if (v === undefined) dels.push(k);
      else puts.push([k, v]);
    }
    await this.transaction(async (c) => {
      await this.writeBlock(c, block, txIds);
      await this.upsert(c, puts);
      if (dels.length) await c.query(`DELETE FROM ${this.s}.state WHERE key = ANY($1)`, [dels]);
    });
  }

  private async writeBlock(c: pg.PoolClient, b: Block, txIds?: readonly string[]): Promise<void> {
    await c.query(
      `INSERT INTO ${this.s}.blocks (height, time, prev_hash, root, hash, txs) VALUES ($1, $2, $3, $4, $5, $6)`,
      [b.height, b.time, b.prevHash, b.root, b.hash, JSON.stringify(b.txs)],
    );
    if (!b.txs.length) return;
    // one statement for all of the block's txs: arrays bind as one parameter each, however many
    await c.query(
      `INSERT INTO ${this.s}.txs (id, height, idx, type, sender)
       SELECT id, $2::bigint, idx - 1, type, sender FROM unnest($1::text[], $3::text[], $4::text[])
         WITH ORDINALITY AS t(id, type, sender, idx)`,
      [
        b.txs.map((tx, i) => txIds?.[i] ?? txId(tx)),
        b.height,
        b.txs.map((t) => t.type),
        b.txs.map((t) => t.from),
      ],
    );
  }

  /** multi-row upserts via unnest: a constant number of parameters, so no bind-limit on rows */
  private async upsert(c: pg.PoolClient, puts: Array<[string, string]>): Promise<void> {
    for (let i = 0; i < puts.length; i += CHUNK) {
      const chunk = puts.slice(i, i + CHUNK);
      await c.query(
        `INSERT INTO ${this.s}.state (key, value) SELECT * FROM unnest($1::text[], $2::text[])
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
        [chunk.map((p) => p[0]), chunk.map((p) => p[1])],
      );
    }
  }

  async head(): Promise<Block | undefined> {
    const [r] = await this.query<BlockRow>(`SELECT * FROM ${this.s}.blocks ORDER BY height DESC LIMIT 1`);
    return r && toBlock(r);
  }

  async block(height: number): Promise<Block | undefined> {
    const [r] = await this.query<BlockRow>(`SELECT * FROM ${this.s}.blocks WHERE height = $1`, [height]);
    return r && toBlock(r);
  }

  async blocks(fromHeight: number, limit: number): Promise<Block[]> {
    const rows = await this.query<BlockRow>(
      `SELECT * FROM ${this.s}.blocks WHERE height >= $1 ORDER BY height LIMIT $2`,
      [fromHeight, Math.max(0, limit)],
    );
    return rows.map(toBlock);
  }

  async recentBlocks(limit: number): Promise<Block[]> {
    const rows = await this.query<BlockRow>(`SELECT * FROM ${this.s}.blocks ORDER BY height DESC LIMIT $1`, [
      Math.max(0, limit),
    ]);
    return rows.map(toBlock);
  }

  async tx(id: string): Promise<TxRecord | undefined> {
    const [r] = await this.recentTxRows('WHERE t.id = $1', [id], 1);
    return r;
  }

  async recentTxs(limit: number, filter: { from?: string; type?: string } = {}): Promise<TxRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.from) where.push(`t.sender = $${args.push(filter.from)}`);
    if (filter.type) where.push(`t.type = $${args.push(filter.type)}`);
    return this.recentTxRows(where.length ? `WHERE ${where.join(' AND ')}` : '', args, limit);
  }

  private async recentTxRows(where: string, args: unknown[], limit: number): Promise<TxRecord[]> {
    const rows = await this.query<{ id: string; height: string; idx: number; time: string; txs: string }>(
      `SELECT t.id, t.height, t.idx, b.time, b.txs FROM ${this.s}.txs t
       JOIN ${this.s}.blocks b ON b.height = t.height
       ${where} ORDER BY t.height DESC, t.idx DESC LIMIT $${args.length + 1}`,
      [...args, Math.max(0, limit)],
    );
    return rows.map((r) => ({
      id: r.id,
      height: Number(r.height),
      index: r.idx,
      time: Number(r.time),
      tx: (JSON.parse(r.txs) as SignedTx[])[r.idx]!,
    }));
  }

  async loadState(): Promise<Array<[string, unknown]>> {
    const rows = await this.query<{ key: string; value: string }>(`SELECT key, value FROM ${this.s}.state`);
    return rows.map((r) => {
      try {
        return [r.key, decodeCanonical(r.value)];
      } catch (e) {
        const why = (e as Error).message;
        throw new AethirError('STORE_CORRUPT', `state row ${r.key} does not decode: ${why}`, { cause: e });
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private async query<R extends pg.QueryResultRow>(sql: string, args?: unknown[]): Promise<R[]> {
    try {
      return (await this.pool.query<R>(sql, args)).rows;
    } catch (e) {
      throw this.mapError(e);
    }
  }

  private async transaction(fn: (c: pg.PoolClient) => Promise<void>): Promise<void> {
    let c: pg.PoolClient;
    try {
      c = await this.pool.connect();
    } catch (e) {
      throw this.mapError(e);
    }
    let broken: Error | undefined;
    try {
      await c.query('BEGIN');
      await fn(c);
      await c.query('COMMIT');
    } catch (e) {
      // a connection that cannot even roll back is dropped rather than handed to the next caller
      await c.query('ROLLBACK').catch((r: Error) => (broken = r));
      throw this.mapError(e);
    } finally {
      c.release(broken);
    }
  }

  /** Connection trouble becomes UNAVAILABLE (retryable), a duplicate block or tx CONFLICT. */
  private mapError(e: unknown): unknown {
    if (e instanceof AethirError) return e;
    const err = e as Error & { code?: string; constraint?: string };
    const code = typeof err.code === 'string' ? err.code : '';
    if (isConnectionError(err, code))
      return new AethirError('UNAVAILABLE', `PostgreSQL at ${this.where} is unavailable: ${reason(err)}`, {
        cause: e,
        details: { endpoint: this.where },
      });
    // 28xxx: authentication; 3D000: no such database. Retrying cannot help, the config must change.
    if (code.startsWith('28') || code === '3D000')
      return new AethirError('CONFIG_INVALID', `PostgreSQL at ${this.where} refused: ${err.message}`, {
        cause: e,
      });
    if (code === '23505')
      return new AethirError('CONFLICT', `already held: ${err.message}`, {
        cause: e,
        details: { constraint: err.constraint },
      });
    return e;
  }
}

const NET_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

function isConnectionError(err: Error, code: string): boolean {
  // 08xxx: connection exception; 57P0x: the server is shutting down or starting; 53300: too many clients
  if (NET_ERRORS.has(code) || code.startsWith('08') || /^57P0[1-3]$/.test(code) || code === '53300')
    return true;
  // node-postgres's own connect timeouts and dropped connections carry no code
  return !code && /timeout|Connection terminated|not queryable/i.test(err?.message ?? '');
}

/** Node reports a refused dual-stack connect as an AggregateError with an empty message */
function reason(err: Error & { code?: string }): string {
  return (
    err.message ||
    (err instanceof AggregateError && (err.errors[0] as Error)?.message) ||
    err.code ||
    String(err)
  );
}

/** host:port/database for messages, never the password */
function endpointOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || 5432}${u.pathname.length > 1 ? u.pathname : ''}`;
  } catch {
    return 'the configured URL';
  }
}

function toBlock(r: BlockRow): Block {
  return {
    height: Number(r.height),
    time: Number(r.time),
    prevHash: r.prev_hash,
    root: r.root,
    hash: r.hash,
    txs: JSON.parse(r.txs),
  };
}
