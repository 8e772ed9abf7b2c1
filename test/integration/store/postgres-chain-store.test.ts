import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AethirError } from '../../../src/core/index.js';
import { genesisBlock } from '../../../src/ledger/index.js';
import { PgChainStore, type AsyncChainStore } from '../../../src/store/index.js';
import { MIGRATIONS } from '../../../src/store/postgres/migrations.js';
import { TestNet } from '../../unit/ledger/fixtures.js';
import { describeChainStoreCompliance } from '../../unit/store/chain-store-compliance.js';

const URL = process.env.AETHIR_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
const admin = new pg.Pool({ connectionString: URL, max: 2 });
afterAll(() => admin.end());

const freshSchema = () => `t_${randomBytes(6).toString('hex')}`;
const dropSchema = async (schema: string): Promise<void> => {
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
};

describeChainStoreCompliance(
  'postgres',
  () => PgChainStore.open({ url: URL, schema: freshSchema() }),
  (s: AsyncChainStore) => dropSchema((s as PgChainStore).schema),
);

describe('PgChainStore', () => {
  const schemas: string[] = [];
  const stores: PgChainStore[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    for (const schema of schemas.splice(0)) await dropSchema(schema);
  });
  const schema = () => {
    const s = freshSchema();
    schemas.push(s);
    return s;
  };
  const open = async (s: string) => {
    const store = await PgChainStore.open({ url: URL, schema: s });
    stores.push(store);
    return store;
  };
  const migrations = async (s: string) =>
    (await admin.query(`SELECT version, name FROM "${s}".schema_migrations ORDER BY version`)).rows;

  it('records each migration once; reopening applies nothing new', async () => {
    const s = schema();
    await open(s);
    const first = await migrations(s);
    expect(first).toEqual(MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
    await open(s);
    await open(s);
    expect(await migrations(s)).toEqual(first);
    const { rows } = await admin.query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`,
      [s],
    );
    expect(rows.map((r) => r.table_name)).toEqual(['blocks', 'meta', 'schema_migrations', 'state', 'txs']);
  });

  it('lets two processes open the same new schema at once', async () => {
    const s = schema();
    const [a, b] = await Promise.all([open(s), open(s)]);
    expect(await migrations(s)).toHaveLength(MIGRATIONS.length);
    // both see one store: what one writes the other reads
    const t = new TestNet();
    await a.init(t.genesis, genesisBlock(t.genesis, t.ledger), t.ledger.state.entries());
    expect(await b.readGenesis()).toEqual(t.genesis);
  });

  it('reports an unreachable server as UNAVAILABLE, quickly and naming the address', async () => {
    const started = performance.now();
    const e = await PgChainStore.open({ url: 'postgres://postgres@127.0.0.1:1/test', schema: 'x' }).catch(
      (e: unknown) => e,
    );
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(e).toBeInstanceOf(AethirError);
    expect(e).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
    expect((e as Error).message).toContain('127.0.0.1:1');
  });

  it('rejects an invalid schema name before connecting', async () => {
    for (const bad of ['', 'Upper', '1abc', 'a-b', 'a"; DROP SCHEMA public; --', 'x'.repeat(64)]) {
      const e = await PgChainStore.open({ url: URL, schema: bad }).catch((e: unknown) => e);
      expect(e, bad).toBeInstanceOf(AethirError);
      expect((e as AethirError).code).toBe('INVALID_ARGUMENT');
    }
  });

  it('keeps its data across close and reopen', async () => {
    const s = schema();
    const store = await open(s);
    const t = new TestNet();
    const b0 = genesisBlock(t.genesis, t.ledger);
    await store.init(t.genesis, b0, t.ledger.state.entries());
    await store.close();
    await store.close(); // closing twice is harmless
    const again = await open(s);
    expect(await again.readGenesis()).toEqual(t.genesis);
    expect(await again.head()).toEqual(b0);
    expect(new Map(await again.loadState())).toEqual(new Map(t.ledger.state.entries()));
  });

  it('reports a state row that does not decode as STORE_CORRUPT', async () => {
    const s = schema();
    const store = await open(s);
    const t = new TestNet();
    await store.init(t.genesis, genesisBlock(t.genesis, t.ledger), t.ledger.state.entries());
    await admin.query(`INSERT INTO "${s}".state (key, value) VALUES ('bad', '{"a":"#1')`);
    const e = await store.loadState().catch((e: unknown) => e);
    expect(e).toMatchObject({ code: 'STORE_CORRUPT' });
    expect((e as Error).message).toContain('bad');
  });
});
