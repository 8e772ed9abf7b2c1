export * from './ports.js';
export { SqliteChainStore } from './sqlite/sqlite-chain-store.js';
