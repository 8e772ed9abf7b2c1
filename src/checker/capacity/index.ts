export * from './challenge.js';
export * from './sizing.js';
export * from './protocol.js';
export * from './prover.js';
export { CpuProverSession, runCpuProver, type CpuProverOptions } from './cpu-prover.js';
