import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ath } from '../../../src/core/index.js';
import { container, matchOrNull, noMatch, req, setup, OTHER_USER } from './fixtures.js';

describe('Indexer.offers', () => {
  it('lists the matching containers best first, with free GPUs, and reserves nothing', () => {
    const { indexer, add } = setup();
    add(
      container('c-cheap', { pricePerHour: ath('0.5'), gpusTotal: 2 }),
      container('c-mid', { pricePerHour: ath(1), gpusTotal: 4, model: 'NVIDIA A100', memoryMiB: 81_920 }),
      container('c-dear', { pricePerHour: ath(3) }),
      container('c-small', { pricePerHour: ath('0.1'), gpusTotal: 1 }),
    );
    const { offers, total } = indexer.offers(req({ gpus: 2 }));
    expect(total).toBe(3);
    expect(offers.map((o) => [o.container.id, o.gpusFree])).toEqual([
      ['c-cheap', 2],
      ['c-mid', 4],
      ['c-dear', 2],
    ]);
    expect(indexer.stats().reservations).toBe(0);
    // a budget and VRAM narrow it; limit cuts it
    expect(
      indexer
        .offers(req({ gpus: 2, minVramMiB: 40_000, maxPricePerHour: ath(2) }))
        .offers.map((o) => o.container.id),
    ).toEqual(['c-mid']);
    expect(indexer.offers(req({ gpus: 1 }), 2).offers.map((o) => o.container.id)).toEqual([
      'c-small',
      'c-cheap',
    ]);
    // what another user reserved is not offered
    indexer.match({ ...req({ gpus: 2 }), user: OTHER_USER });
    expect(indexer.offers(req({ gpus: 2 })).offers.map((o) => o.container.id)).toEqual(['c-mid', 'c-dear']);
    // nothing: the same NO_MATCH (with the reasons) as match
    expect(noMatch(() => indexer.offers(req({ gpus: 8 }))).message).toBe(
      noMatch(() => indexer.match(req({ gpus: 8 }))).message,
    );
  });

  it('the first offer is the container match then picks, for any containers and request', () => {
    const models = ['NVIDIA GeForce RTX 4090', 'NVIDIA A100', 'NVIDIA H100'];
    const cities = ['Frankfurt', 'Paris', 'Tokyo', 'Ashburn'];
    const arb = fc.record({
      cs: fc.array(
        fc.record({
          price: fc.integer({ min: 1, max: 40 }),
          gpus: fc.integer({ min: 1, max: 8 }),
          model: fc.constantFrom(...models),
          at: fc.constantFrom(...cities),
          tier: fc.integer({ min: 1, max: 3 }),
        }),
        { minLength: 1, maxLength: 25 },
      ),
      gpus: fc.integer({ min: 0, max: 4 }),
      strategy: fc.constantFrom('lowest-fee', 'best-experience', 'balanced') as fc.Arbitrary<
        'lowest-fee' | 'best-experience' | 'balanced'
      >,
      region: fc.constantFrom(undefined, 'eu', 'us', 'ap'),
      maxPrice: fc.constantFrom(undefined, 5, 20),
    });
    fc.assert(
      fc.property(arb, ({ cs, gpus, strategy, region, maxPrice }) => {
        const { indexer, add } = setup();
        add(
          ...cs.map((c, i) =>
            container(`c${String(i).padStart(2, '0')}`, {
              pricePerHour: ath(c.price) / 10n,
              gpusTotal: c.gpus,
              model: c.model,
              at: c.at,
              qualityTier: c.tier,
            }),
          ),
        );
        const r = req({
          gpus,
          strategy,
          ...(region ? { region } : {}),
          ...(maxPrice ? { maxPricePerHour: ath(maxPrice) / 10n } : {}),
        });
        const listed = matchOrNull(() => indexer.offers(r, 5));
        const picked = matchOrNull(() => indexer.match(r));
        expect(listed?.offers[0]?.container.id ?? null).toBe(picked?.container.id ?? null);
        if (listed && picked) expect(listed.offers[0]!.score).toEqual(picked.score);
      }),
      { numRuns: 300 },
    );
  });
});
