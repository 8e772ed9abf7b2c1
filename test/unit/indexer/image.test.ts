import { describe, expect, it } from 'vitest';
import { IMAGE_MISS_COST } from '../../../src/indexer/request.js';
import { container, gpus, noMatch, req, ruledOut, setup } from './fixtures.js';

const spec = {
  gpus: gpus(1),
  cpu: { model: 'AMD EPYC', cores: 16 },
  memoryMiB: 65_536,
  source: 'declared' as const,
};
const IMG = 'registry.example/team/train:1.0';

describe('image leases: only hosts with a Docker engine, those with the image cached first', () => {
  it('rules out hosts without a Docker engine, saying so', () => {
    const { indexer, add } = setup();
    add(container('plain', { spec }));
    const e = noMatch(() => indexer.match(req({ gpus: 1, image: IMG })));
    expect(ruledOut(e)).toEqual({ 'no Docker engine': 1 });
    expect(e.message).toContain('no Docker engine');
  });

  it('prefers the host that has the image, within IMAGE_MISS_COST of price; the score shows the part', () => {
    const { indexer, add, clock } = setup();
    add(
      container('cold', { spec, pricePerHour: 10n ** 17n }),
      container('warm', { spec, pricePerHour: 2n * 10n ** 17n }),
      container('plain', { spec, pricePerHour: 10n ** 16n }),
    );
    indexer.heartbeatMsg({
      container: 'cold',
      at: clock.now() + 1,
      freeGpus: 4,
      runtime: 'docker',
      images: [],
    });
    indexer.heartbeatMsg({
      container: 'warm',
      at: clock.now() + 1,
      freeGpus: 4,
      runtime: 'docker',
      images: [IMG, `registry.example/team/train@sha256:${'a'.repeat(64)}`],
    });
    const m = indexer.match(req({ gpus: 1, image: IMG }));
    expect(m.container.id, JSON.stringify(m.score.parts)).toBe('warm');
    expect(m.score.parts.image).toBe(0);
    // each match reserves: release, so the next one sees every host again
    const pick = (image?: string) => {
      const r = indexer.match(req({ gpus: 1, ...(image ? { image } : {}) }));
      indexer.release(r.reservation.id);
      return r;
    };
    indexer.release(m.reservation.id);
    // by digest too
    expect(pick(`other/name@sha256:${'a'.repeat(64)}`).container.id).toBe('warm');
    const other = pick('registry.example/elsewhere:2');
    expect(other.container.id).toBe('cold');
    expect(other.score.parts.image).toBe(IMAGE_MISS_COST);
    // without an image the cheapest host wins, Docker or not
    expect(pick().container.id).toBe('plain');
  });

  it('refuses an image reference that is not one', () => {
    const { indexer } = setup();
    for (const bad of ['', 'a b', '../x', 'x'.repeat(600)])
      expect(() => indexer.match(req({ gpus: 1, image: bad }))).toThrow(/image must be an image reference/);
  });
});
