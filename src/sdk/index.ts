export * from './network.js';
export * from './tx-sender.js';
export * from './client.js';
export * from './receipts.js';
export { HttpBus, type HttpBusOptions } from './http-bus.js';
export * from './renter.js';
export * from './lease-session.js';
