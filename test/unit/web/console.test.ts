import { describe, expect, it } from 'vitest';
import { argv, leasedOverTime } from '../../../web/src/logic.js';
import { classOf, isolationOf, matches, type Filters } from '../../../web/src/map.js';
import type { ContainerView } from '../../../src/sdk/client.js';

const none: Filters = { cls: '', region: '', status: '', isolation: '', maxPrice: '' };
const container = (over: Partial<ContainerView> & { model?: string; isolation?: 'sandbox' | 'none' }) =>
  ({
    id: 'ath1' + '0'.repeat(40),
    name: 'c',
    status: 'online',
    pricePerHour: (2n * 10n ** 18n).toString(),
    location: { city: 'Paris', country: 'FR', region: 'eu-west', lat: 48.8, lon: 2.3 },
    spec: {
      gpus: over.model ? [{ model: over.model, memoryMiB: 81920 }] : [],
      cpu: { model: 'x', cores: 8 },
      memoryMiB: 1024,
      source: 'declared',
      ...(over.isolation ? { isolation: over.isolation } : {}),
    },
    ...over,
  }) as unknown as ContainerView;

describe('the console, without a browser', () => {
  it('splits a command line as a shell would for plain words and quotes', () => {
    expect(argv(`node -e "console.log('hi there')"`)).toEqual(['node', '-e', "console.log('hi there')"]);
    expect(argv(`echo 'a  b' "c \\"d\\"" e`)).toEqual(['echo', 'a  b', 'c "d"', 'e']);
    expect(argv('   ')).toEqual([]);
  });

  it('map filters: class, region (and its sub-regions), status, isolation (absent = none), price', () => {
    const h100 = container({ model: 'NVIDIA H100 80GB HBM3', isolation: 'sandbox' });
    const cpu = container({ status: 'offline' as any });
    expect(classOf(h100)).toBe('h100');
    expect(classOf(cpu)).toBe('cpu');
    expect(isolationOf(cpu)).toBe('none');
    expect(matches(h100, none)).toBe(true);
    expect(matches(h100, { ...none, cls: 'h100' })).toBe(true);
    expect(matches(cpu, { ...none, cls: 'h100' })).toBe(false);
    expect(matches(h100, { ...none, region: 'eu' })).toBe(true);
    expect(matches(h100, { ...none, region: 'us' })).toBe(false);
    expect(matches(cpu, { ...none, status: 'online' })).toBe(false);
    expect(matches(h100, { ...none, isolation: 'sandbox' })).toBe(true);
    expect(matches(cpu, { ...none, isolation: 'sandbox' })).toBe(false);
    expect(matches(cpu, { ...none, isolation: 'none' })).toBe(true);
    expect(matches(h100, { ...none, maxPrice: '2' })).toBe(true);
    expect(matches(h100, { ...none, maxPrice: '1.99' })).toBe(false);
  });

  it('GPUs leased over time: a step at each open and close, a CPU lease counting one, then now', () => {
    const s = leasedOverTime(
      [
        { gpus: 2, openedAt: 1000, closedAt: 5000 },
        { gpus: 0, openedAt: 2000, closedAt: null },
        { gpus: 4, openedAt: 3000, closedAt: 5000 },
      ],
      9000,
    );
    expect(s).toEqual({ t: [1, 2, 3, 5, 9], v: [2, 3, 7, 1, 1] });
    expect(leasedOverTime([], 9000)).toEqual({ t: [], v: [] });
  });
});
