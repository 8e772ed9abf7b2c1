export * from './challenge.js';
export * from './sizing.js';
export * from './protocol.js';
export * from './prover.js';
export { CpuProverSession, runCpuProver, type CpuProverOptions, type ProverMemory } from './cpu-prover.js';
export * from './memory.js';
export * from './classes.js';
export * from './margins.js';
export * from './work.js';
