export * from './indexer.js';
