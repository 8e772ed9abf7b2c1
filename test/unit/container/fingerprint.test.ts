import { describe, expect, it } from 'vitest';
import { fingerprintOf } from '../../../src/container/index.js';

const cpu = { model: 'AMD EPYC 9654', cores: 96, arch: 'x64' };
const gpu = (uuid: string) => ({
  index: 0,
  name: 'NVIDIA H100 80GB HBM3',
  uuid,
  memoryMiB: 81_559,
  driverVersion: '550.54.15',
});

describe('fingerprintOf', () => {
  it('is stable across restarts and orderings, and ignores everything but MACs, CPU and GPU UUIDs', () => {
    const a = fingerprintOf({ cpu, gpus: [gpu('GPU-a'), gpu('GPU-b')] }, [
      'AA:BB:CC:00:00:01',
      'aa:bb:cc:00:00:02',
    ]);
    const b = fingerprintOf({ cpu, gpus: [gpu('GPU-b'), gpu('GPU-a')] }, [
      'aa:bb:cc:00:00:02',
      'aa:bb:cc:00:00:01',
    ]);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(b).toBe(a);
  });

  it('changes when the hardware does: another GPU, another board, another CPU', () => {
    const base = fingerprintOf({ cpu, gpus: [gpu('GPU-a')] }, ['aa:bb:cc:00:00:01']);
    expect(fingerprintOf({ cpu, gpus: [gpu('GPU-z')] }, ['aa:bb:cc:00:00:01'])).not.toBe(base);
    expect(fingerprintOf({ cpu, gpus: [gpu('GPU-a')] }, ['aa:bb:cc:00:00:09'])).not.toBe(base);
    expect(
      fingerprintOf({ cpu: { ...cpu, cores: 64 }, gpus: [gpu('GPU-a')] }, ['aa:bb:cc:00:00:01']),
    ).not.toBe(base);
  });
});
