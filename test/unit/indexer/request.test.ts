import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ath } from '../../../src/core/index.js';
import {
  cc10Of,
  classRankOf,
  costOf,
  describeRequest,
  GPU_CLASS_ORDER,
  hardwareOf,
  latencyBoundOf,
  MatchRequestJson,
  modelMatches,
  normalizeRequest,
  parseMatchBody,
  parseMatchRequest,
  STRATEGIES,
  STRATEGY_WEIGHTS,
} from '../../../src/indexer/index.js';
import { USER, city, gpus } from './fixtures.js';

describe('GPU models', () => {
  it('match whole words, case-insensitively', () => {
    expect(modelMatches('4090', 'NVIDIA GeForce RTX 4090')).toBe(true);
    expect(modelMatches('h100', 'NVIDIA H100 80GB HBM3')).toBe(true);
    expect(modelMatches('rtx 4090', 'NVIDIA GeForce RTX 4090')).toBe(true);
    expect(modelMatches('nvidia', 'NVIDIA A10')).toBe(true);
    expect(modelMatches('a10', 'NVIDIA A10')).toBe(true);
    expect(modelMatches('a10', 'NVIDIA A100-SXM4-80GB')).toBe(false);
    expect(modelMatches('a100', 'NVIDIA A100-SXM4-80GB')).toBe(true);
    expect(modelMatches('409', 'NVIDIA GeForce RTX 4090')).toBe(false);
    // a later whole-word occurrence counts even when an earlier one is part of a word
    expect(modelMatches('a10', 'A100 with A10')).toBe(true);
  });

  it('rank by the stake table classes', () => {
    expect(GPU_CLASS_ORDER[classRankOf('NVIDIA H100 80GB HBM3')]).toBe('h100');
    expect(GPU_CLASS_ORDER[classRankOf('NVIDIA H800')]).toBe('h100');
    expect(GPU_CLASS_ORDER[classRankOf('Tesla T4')]).toBe('other');
    expect(classRankOf('NVIDIA H200')).toBeGreaterThan(classRankOf('NVIDIA A100-SXM4-80GB'));
    expect(classRankOf('NVIDIA L40S')).toBeGreaterThan(classRankOf('NVIDIA GeForce RTX 4090'));
  });

  it('know their compute capability: as probed, else by model, else 0', () => {
    expect(cc10Of({ model: 'NVIDIA H100 80GB HBM3' })).toBe(90);
    expect(cc10Of({ model: 'NVIDIA A100-SXM4-80GB' })).toBe(80);
    expect(cc10Of({ model: 'NVIDIA A10' })).toBe(86);
    expect(cc10Of({ model: 'NVIDIA GeForce RTX 4090' })).toBe(89);
    expect(cc10Of({ model: 'Tesla V100-SXM2-32GB' })).toBe(70);
    expect(cc10Of({ model: 'Tesla T4' })).toBe(75);
    expect(cc10Of({ model: 'Tesla P100-PCIE-16GB' })).toBe(60);
    expect(cc10Of({ model: 'Mystery GPU' })).toBe(0);
    expect(cc10Of({ model: 'Mystery GPU', computeCapability: '8.6' })).toBe(86);
    expect(cc10Of({ model: 'NVIDIA H100', computeCapability: '12.0' })).toBe(120);
  });

  it('summarise a host: the weakest GPU decides', () => {
    const h = hardwareOf({
      spec: {
        gpus: [...gpus(1, 'NVIDIA H100', 81_559), ...gpus(1, 'NVIDIA A100-SXM4-40GB', 40_960)],
        cpu: { model: 'x', cores: 1 },
        memoryMiB: 1,
        source: 'declared',
      },
    });
    expect(h).toEqual({
      models: ['NVIDIA A100-SXM4-40GB', 'NVIDIA H100'],
      distinct: ['NVIDIA A100-SXM4-40GB', 'NVIDIA H100'],
      classRank: GPU_CLASS_ORDER.indexOf('a100'),
      minVramMiB: 40_960,
      minCc10: 80,
    });
  });
});

describe('the match request schema', () => {
  it('as JSON (the API body, the SDK argument): a price in decimal units becomes a bigint, gpus and strategy get their defaults, a place stays a name', () => {
    expect(
      MatchRequestJson.parse({
        user: USER,
        maxPricePerHour: '2500000000000000000',
        gpuModels: ['H100', 'A100'],
        minComputeCapability: '8.0',
        location: 'Montréal, CA',
      }),
    ).toEqual({
      user: USER,
      gpus: 0,
      strategy: 'lowest-fee',
      maxPricePerHour: 2_500_000_000_000_000_000n,
      gpuModels: ['H100', 'A100'],
      minComputeCapability: '8.0',
      location: 'Montréal, CA',
    });
    expect(MatchRequestJson.safeParse({ user: USER, maxPricePerHour: '-1' }).success).toBe(false);
    expect(MatchRequestJson.safeParse({ user: USER, maxPricePerHour: 5 }).success).toBe(false);
  });

  it('from the bus: parseMatchRequest gives back a valid request as it is, and refuses a malformed one with INVALID_ARGUMENT naming the field', () => {
    const ok = { user: USER, gpus: 2, maxPricePerHour: 10n, location: { lat: 45.5, lon: -73.6 } };
    expect(parseMatchRequest(ok)).toEqual(ok);
    const bad: Array<[unknown, string]> = [
      [{ user: 'u', gpus: 1 }, 'user: must be an address (ath1 + 40 hex)'],
      [{ user: USER }, 'gpus: '],
      [{ user: USER, gpus: 65 }, 'gpus: '],
      [{ user: USER, gpus: 1, maxPricePerHour: '10' }, 'maxPricePerHour: '],
      [{ user: USER, gpus: 1, maxPricePerHour: -1n }, 'maxPricePerHour: '],
      [{ user: USER, gpus: 1, location: 'Paris, FR' }, 'location: '],
      [{ user: USER, gpus: 1, strategy: 'cheapest' }, 'strategy: '],
      [{ user: USER, gpus: 1, sql: 'drop table' }, '(root): '],
      [['not', 'an', 'object'], '(root): '],
    ];
    for (const [req, why] of bad)
      expect(
        () => parseMatchRequest(req),
        JSON.stringify(req, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)),
      ).toThrow(
        expect.objectContaining({
          code: 'INVALID_ARGUMENT',
          message: expect.stringContaining(`invalid match request: ${why}`),
        }),
      );
  });
});

describe('parseMatchBody (a signed POST /v1/match body, at an indexer over the bus)', () => {
  it('is the API body made a request: defaults, a decimal price, a place name as its coordinates', () => {
    const q = parseMatchBody({ user: USER, maxPricePerHour: '25', location: 'Paris, FR' });
    expect(q).toMatchObject({ user: USER, gpus: 0, strategy: 'lowest-fee', maxPricePerHour: 25n });
    expect(q.location).toEqual({ lat: expect.closeTo(48.86, 1), lon: expect.closeTo(2.35, 1) });
    expect(parseMatchBody({ user: USER, gpus: 1, location: '45.5,-73.57' }).location).toEqual({
      lat: 45.5,
      lon: -73.57,
    });
  });

  it('refuses what the API would, with INVALID_ARGUMENT', () => {
    const bad: Array<[unknown, RegExp]> = [
      [undefined, /invalid match request: \(root\)/],
      [{ user: USER, gpus: 'x' }, /invalid match request: gpus/],
      [{ user: USER, maxPricePerHour: 5 }, /invalid match request: maxPricePerHour/],
      [{ user: USER, location: 'Atlantis, XX' }, /Atlantis/],
    ];
    for (const [body, why] of bad)
      expect(() => parseMatchBody(body), JSON.stringify(body)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(why) }),
      );
  });
});

describe('normalizeRequest', () => {
  const base = { user: USER, gpus: 1 };

  it('defaults to lowest-fee, no constraints, no location', () => {
    const q = normalizeRequest(base);
    expect(q).toMatchObject({
      strategy: 'lowest-fee',
      models: null,
      minClassRank: -1,
      point: null,
      maxPrice: null,
      refPriceAth: 2,
      refLatencyMs: 100,
    });
  });

  it('merges gpuModel into gpuModels, lower-cased and unique', () => {
    expect(
      normalizeRequest({ ...base, gpuModels: ['H100', 'h100', 'A100'], gpuModel: 'H200' }).models,
    ).toEqual(['h100', 'a100', 'h200']);
  });

  it('takes the user to be at the reference city of a region without coordinates', () => {
    expect(normalizeRequest({ ...base, region: 'eu-west' }).point).toEqual({
      lat: city('Amsterdam').lat,
      lon: city('Amsterdam').lon,
    });
    expect(normalizeRequest({ ...base, region: 'eu', location: { lat: 1, lon: 2 } }).point).toEqual({
      lat: 1,
      lon: 2,
    });
    expect(normalizeRequest({ ...base, region: 'xx' }).point).toBeNull();
  });

  it('uses the budget and the latency bound as the references of the score', () => {
    const q = normalizeRequest({ ...base, maxPricePerHour: ath(4), maxLatencyMs: 40, region: 'eu' });
    expect(q.refPriceAth).toBe(4);
    expect(q.refLatencyMs).toBe(40);
    expect(q.minCc10).toBeNull();
    expect(normalizeRequest({ ...base, minComputeCapability: '8.6' }).minCc10).toBe(86);
    expect(normalizeRequest({ ...base, minComputeCapability: 9 }).minCc10).toBe(90);
  });

  it.each([
    [{ gpus: 65 }, /gpus/],
    [{ strategy: 'fastest' as never }, /strategy/],
    [{ gpuModels: [''] }, /GPU models/],
    [{ minGpuClass: 'tpu' as never }, /minGpuClass/],
    [{ minVramMiB: -1 }, /minVramMiB/],
    [{ minVramMiB: 1.5 }, /minVramMiB/],
    [{ minComputeCapability: 'x' }, /minComputeCapability/],
    [{ location: { lat: 91, lon: 0 } }, /location/],
    [{ maxLatencyMs: 0, location: { lat: 0, lon: 0 } }, /maxLatencyMs/],
    [{ maxLatencyMs: 50 }, /needs a location/],
    [{ maxLatencyMs: 50, region: 'xx' }, /needs a location/],
    [{ minReputation: 1.5 }, /minReputation/],
    [{ maxPricePerHour: -1n }, /maxPricePerHour/],
  ])('rejects %o with INVALID_ARGUMENT', (over, msg) => {
    expect(() => normalizeRequest({ ...base, ...over })).toThrowError(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(msg) }),
    );
  });

  it('describes a request in words', () => {
    const q = normalizeRequest({
      ...base,
      gpus: 3,
      gpuModel: 'H100',
      region: 'eu-west',
      maxPricePerHour: ath('2.1'),
    });
    expect(describeRequest(q)).toBe('3 H100s in eu-west at ≤ 2.1 ATH/h');
    expect(
      describeRequest(
        normalizeRequest({
          ...base,
          minGpuClass: 'a100',
          minVramMiB: 40_960,
          minComputeCapability: 8,
          location: { lat: 0, lon: 0 },
          maxLatencyMs: 25,
          minReputation: 0.955,
          app: 'cyberpunk',
          maxPricePerHour: ath('1.00001'),
        }),
      ),
    ).toBe(
      '1 a100-class-or-better GPU with ≥ 40 GiB each compute capability ≥ 8.0 within 25 ms at ≤ 1.001 ATH/h reputation ≥ 0.95 with cyberpunk installed',
    );
    expect(describeRequest(normalizeRequest({ ...base, gpus: 0 }))).toBe('a CPU lease');
  });

  it('rounds latency bounds up, never below the value', () => {
    expect(latencyBoundOf(12.31)).toBe(12.4);
    expect(latencyBoundOf(12)).toBe(12);
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1000, noNaN: true }), (x) => {
        const v = latencyBoundOf(x);
        return v >= x && v - x <= 0.1 + 1e-9;
      }),
    );
  });
});

describe('costOf', () => {
  it('weights sum to one for the weighted strategies; lowest-fee is the fee alone', () => {
    for (const s of STRATEGIES) {
      const w = STRATEGY_WEIGHTS[s];
      expect(w.fee + w.latency + w.quality).toBeCloseTo(1, 12);
    }
    expect(STRATEGY_WEIGHTS['lowest-fee']).toEqual({ fee: 1, latency: 0, quality: 0 });
  });

  it('never decreases when price or latency grow or the tier falls (what pruning relies on)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...STRATEGIES),
        fc.double({ min: 0, max: 100, noNaN: true }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        fc.double({ min: 0, max: 500, noNaN: true }),
        fc.double({ min: 0, max: 500, noNaN: true }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        (s, p1, p2, l1, l2, t1, t2) => {
          const w = STRATEGY_WEIGHTS[s];
          const lo = costOf(w, Math.min(p1, p2), Math.min(l1, l2), Math.max(t1, t2), 2, 100);
          const hi = costOf(w, Math.max(p1, p2), Math.max(l1, l2), Math.min(t1, t2), 2, 100);
          return lo <= hi;
        },
      ),
    );
  });
});
