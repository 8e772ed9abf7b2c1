import { describe, expect, it } from 'vitest';
import { declaredSpec, parseDeclaredGpus } from '../../../src/container/index.js';

describe('parseDeclaredGpus', () => {
  it('reads counts, models and memory', () => {
    expect(parseDeclaredGpus('2x RTX 4090 24GB')).toEqual([
      { model: 'RTX 4090', memoryMiB: 24_576 },
      { model: 'RTX 4090', memoryMiB: 24_576 },
    ]);
    const mixed = parseDeclaredGpus('1x H100 80GB, 1 x A100 40960MiB');
    expect(mixed.map((g) => [g.model, g.memoryMiB])).toEqual([
      ['H100', 81_920],
      ['A100', 40_960],
    ]);
  });
  it.each(['', 'H100', '0x H100 80GB', '2x 80GB', '1x H100 0GB', '2x RTX 4090 24TB', '99x H100 80GB'])(
    'rejects %j with a clear error',
    (text) => {
      expect(() => parseDeclaredGpus(text)).toThrow(/GPUs|count|write|at most/);
    },
  );
  it('marks the spec as declared and keeps the probed CPU', () => {
    const probed = { gpus: [], cpu: { model: 'x', cores: 2 }, memoryMiB: 1024, source: 'probed' as const };
    const s = declaredSpec(probed, parseDeclaredGpus('1x H100 80GB'));
    expect(s.source).toBe('declared');
    expect(s.cpu.cores).toBe(2);
    expect(s.gpus).toHaveLength(1);
  });
});
