import { describe, expect, it } from 'vitest';
import { container, gpus, noMatch, relaxations, req, ruledOut, setup } from './fixtures.js';

const spec = (isolation?: 'sandbox' | 'none') => ({
  gpus: gpus(2),
  cpu: { model: 'AMD EPYC', cores: 16 },
  memoryMiB: 65_536,
  source: 'declared' as const,
  ...(isolation ? { isolation } : {}),
});

describe('isolation: rent --isolation sandbox never lands on a host that does not sandbox', () => {
  it('matches only sandboxed hosts, even when an unsandboxed one is cheaper', () => {
    const { indexer, add } = setup();
    add(
      container('cheap-none', { spec: spec('none'), pricePerHour: 1n }),
      container('cheap-old', { spec: spec(), pricePerHour: 1n }), // registered before isolation existed
      container('boxed', { spec: spec('sandbox') }),
    );
    expect(indexer.match(req({ isolation: 'sandbox' })).container.id).toBe('boxed');
    expect(indexer.match(req({ isolation: 'any' })).container.id).not.toBe('boxed');
  });

  it('says why there is no match, and that dropping the requirement would find one', () => {
    const { indexer, add } = setup();
    add(container('plain', { spec: spec('none') }));
    const e = noMatch(() => indexer.match(req({ isolation: 'sandbox' })));
    expect(ruledOut(e)).toEqual({ 'not sandboxed': 1 });
    expect(relaxations(e).map((r) => [r.constraint, r.value])).toEqual([['isolation', 'any']]);
  });

  it('refuses an isolation it does not know', () => {
    const { indexer } = setup();
    expect(() => indexer.match(req({ isolation: 'vm' as never }))).toThrow(
      /isolation must be sandbox or any/,
    );
  });
});
