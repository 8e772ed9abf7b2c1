export * from './indexer.js';
export * from './request.js';
export * from './reference.js';
export * from './query.js';
