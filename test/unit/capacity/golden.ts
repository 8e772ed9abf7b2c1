/**
 * Golden values of the capacity challenge for seed 00…00: challenge.ts and gpu_prover.py must both
 * give exactly these (challenge.test.ts checks the TypeScript, gpu-prover.test.ts the Python).
 */
export const GOLDEN = {
  seed: '00'.repeat(32),
  /** matrixKeys(seed) */
  keys: { a: [1097601435, 1716476211], b: [3754290826, 1161952973] },
  /** the first 8 entries of row 0 of A and of row 1 of B, n = 64 */
  rowA0: [-76, 50, 81, 95, 28, 7, 97, -84],
  rowB1: [-65, -39, -70, 4, -127, 53, -30, 112],
  /** the challenge {id: 'golden', seed, n: 64}: the first 4 entries of C = A·B, and the Merkle root */
  challenge: { id: 'golden', n: 64 },
  c0: [-18144, 36827, -56000, 14],
  root: 'aec43a4c50759af3652c259de274c548fe30c9c6ca8f23cbfb813432b2da971e',
} as const;
