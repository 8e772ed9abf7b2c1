import { sha256Hex } from '../core/encoding.js';

/**
 * Which checkers check which container: a verifiable draw, the same on every node. Each epoch
 * has a seed (genesis: `genesisEpochSeed`; each epoch.close chains it with the hash of the block
 * before it, `nextEpochSeed`), and a container's checkers are ranked by
 * sha256(seed \0 container \0 checker). The first 2N+1 eligible ones (params.checkerQuorumN)
 * are its checkers for that epoch; the next ones stand by for reassignment. No checker can
 * choose the containers it judges, and the draw spreads the work evenly.
 */

/** The seed of the first epoch: sha256("aethir-epoch-seed\0" + chainId + genesis time). */
export function genesisEpochSeed(chainId: string, genesisTime: number): string {
  return sha256Hex(`aethir-epoch-seed\u0000${chainId}${genesisTime}`);
}

/** The seed after closing `epoch`, in a block whose predecessor's hash is `prevHash`. */
export function nextEpochSeed(prevSeed: string, prevHash: string, epoch: number): string {
  return sha256Hex(`${prevSeed}\u0000${prevHash}\u0000${epoch}`);
}

/** The checkers in the order they are drawn for `containerId` under `seed` (ties by address). */
export function rankCheckers(seed: string, containerId: string, checkers: readonly string[]): string[] {
  return checkers
    .map((c) => ({ c, h: sha256Hex(`${seed}\u0000${containerId}\u0000${c}`) }))
    .sort((a, b) => (a.h < b.h ? -1 : a.h > b.h ? 1 : a.c < b.c ? -1 : a.c > b.c ? 1 : 0))
    .map((x) => x.c);
}
