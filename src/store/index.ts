export * from './ports.js';
export { SqliteChainStore } from './sqlite/sqlite-chain-store.js';
export { MemoryChainStore } from './memory/memory-chain-store.js';
export { asyncChainStore } from './async.js';
export { PgChainStore, type PgChainStoreOptions } from './postgres/pg-chain-store.js';
export { JetStreamLog, streamNameOf, type LogEntry, type AppendResult } from './nats/jetstream-log.js';
