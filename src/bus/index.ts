export * from './bus.js';
export * from './messages.js';
export * from './subjects.js';
export { NatsBus, type NatsBusOptions, type NatsBusStats, type NatsBusStatus } from './nats/nats-bus.js';
export * from './telemetry.js';
