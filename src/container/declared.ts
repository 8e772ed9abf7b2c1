import { AethirError } from '../core/errors.js';
import type { ContainerSpec } from '../ledger/modules/containers/payloads.js';

type Gpu = ContainerSpec['gpus'][number];

const ITEM = /^(\d{1,2})\s*x\s+(.+?)\s+(\d+(?:\.\d+)?)\s*(GB|GiB|MB|MiB)$/i;

/**
 * GPUs an operator declares where probing cannot see them (a VM without the driver, an edge
 * device): "2x RTX 4090 24GB", several kinds separated by commas ("1x H100 80GB, 1x A100 40GB").
 * A declared spec is marked as such on the ledger, and it is what the checkers put to the test.
 */
export function parseDeclaredGpus(text: string): Gpu[] {
  const gpus: Gpu[] = [];
  for (const part of text.split(',').map((s) => s.trim())) {
    const m = ITEM.exec(part);
    if (!m)
      throw new AethirError(
        'INVALID_ARGUMENT',
        `cannot read GPUs "${part}": write COUNTx MODEL MEMORY, e.g. "2x RTX 4090 24GB" or "1x H100 80GB, 1x A100 40GB"`,
      );
    const count = Number(m[1]);
    const unit = m[4]!.toLowerCase();
    const memoryMiB = Math.round(Number(m[3]) * (unit === 'gb' || unit === 'gib' ? 1024 : 1));
    if (count < 1 || memoryMiB < 1)
      throw new AethirError('INVALID_ARGUMENT', `"${part}": count and memory must be positive`);
    for (let i = 0; i < count; i++) gpus.push({ model: m[2]!.trim().slice(0, 80), memoryMiB });
  }
  if (gpus.length > 64) throw new AethirError('INVALID_ARGUMENT', 'at most 64 GPUs on one container');
  return gpus;
}

/** This machine's probed CPU, memory and OS with the declared GPUs in place of probed ones. */
export function declaredSpec(probed: ContainerSpec, gpus: Gpu[]): ContainerSpec {
  return { ...probed, gpus, source: 'declared' };
}
