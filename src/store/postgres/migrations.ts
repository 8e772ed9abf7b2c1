import type { PoolClient } from 'pg';

export interface Migration {
  /** applied in ascending order; never renumber or edit one that has shipped, add a new one */
  version: number;
  name: string;
  /** the DDL, with table names qualified by the (already validated) schema */
  sql: (schema: string) => string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'chain store',
    // Heights and times are BIGINT (block times are epoch ms); values are canonical-encoded TEXT
    // so that bigints and escaped strings decode exactly as the SQLite store's do.
    sql: (s) => `
      CREATE TABLE ${s}.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE ${s}.blocks (
        height BIGINT PRIMARY KEY,
        time BIGINT NOT NULL,
        prev_hash TEXT NOT NULL,
        root TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        txs TEXT NOT NULL
      );
      CREATE TABLE ${s}.txs (
        id TEXT PRIMARY KEY,
        height BIGINT NOT NULL,
        idx INTEGER NOT NULL,
        type TEXT NOT NULL,
        sender TEXT NOT NULL
      );
      CREATE INDEX txs_sender ON ${s}.txs (sender, height, idx);
      -- recentTxs without a filter reads newest first: without this it sorts the whole table
      CREATE INDEX txs_order ON ${s}.txs (height, idx);
      CREATE TABLE ${s}.state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `,
  },
];

/**
 * Brings `schema` up to the latest migration in one transaction. The advisory lock (keyed by
 * schema) serializes processes that open the same schema at once: the second one waits, then
 * finds every migration recorded and applies nothing. CREATE SCHEMA IF NOT EXISTS runs under
 * the lock too, as two concurrent ones can both pass the existence check and one then fails.
 */
export async function migrate(
  client: PoolClient,
  schema: string,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number[]> {
  const s = `"${schema}"`;
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`aethir.store:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (
         version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${s}.schema_migrations`);
    const done = new Set(rows.map((r) => r.version));
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      await client.query(m.sql(s));
      await client.query(`INSERT INTO ${s}.schema_migrations (version, name) VALUES ($1, $2)`, [
        m.version,
        m.name,
      ]);
      applied.push(m.version);
    }
    await client.query('COMMIT');
    return applied;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  }
}
