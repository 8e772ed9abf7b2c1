import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { MemoryChainStore, SqliteChainStore, asyncChainStore } from '../../../src/store/index.js';
import { describeChainStoreCompliance } from './chain-store-compliance.js';

describeChainStoreCompliance('memory', async () => asyncChainStore(new MemoryChainStore(), 'memory'));

const tmp = mkdtempSync(path.join(os.tmpdir(), 'aethir-compliance-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
describeChainStoreCompliance('sqlite', async () =>
  asyncChainStore(new SqliteChainStore(path.join(tmp, `case-${n++}.db`)), 'sqlite'),
);
