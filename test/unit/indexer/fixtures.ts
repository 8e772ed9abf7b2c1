import { expect } from 'vitest';
import { AethirError, ath, CITIES, ManualClock, SeededRng, type City } from '../../../src/core/index.js';
import {
  DEFAULT_PARAMS,
  newReputation,
  requiredStake,
  type Container,
  type Params,
} from '../../../src/ledger/index.js';
import { Indexer, type IndexerDeps, type MatchRequest, type Relaxation } from '../../../src/indexer/index.js';

/** Shared by the indexer's unit tests: containers as the ledger holds them, an indexer, helpers. */

export const OFFLINE_AFTER_MS = 30_000;
export const TTL_MS = 10_000;
export const USER = 'ath1' + 'a'.repeat(40);
export const OTHER_USER = 'ath1' + 'b'.repeat(40);

export function city(name: string): City {
  const c = CITIES.find((x) => x.city === name);
  if (!c) throw new Error(`no city ${name}`);
  return c;
}

export function locationOf(name: string): Container['location'] {
  const c = city(name);
  return { city: c.city, country: c.country, region: c.region, lat: c.lat, lon: c.lon };
}

export function gpus(
  n: number,
  model = 'NVIDIA GeForce RTX 4090',
  memoryMiB = 24_564,
  computeCapability?: string,
) {
  return Array.from({ length: n }, (_, i) => ({
    model,
    memoryMiB,
    uuid: `GPU-${i}`,
    ...(computeCapability ? { computeCapability } : {}),
  }));
}

/** The stake requirement at coefficient 1.0. */
export function need(spec: { gpus: Array<{ model: string }> }, params: Params = DEFAULT_PARAMS): bigint {
  return requiredStake(
    params,
    10_000,
    spec.gpus.map((g) => g.model),
  );
}

export type ContainerOver = Partial<Container> & {
  model?: string;
  memoryMiB?: number;
  cc?: string;
  at?: string;
};

/** A container record as the ledger holds it: online and fully staked unless overridden. */
export function container(id: string, over: ContainerOver = {}): Container {
  const { model, memoryMiB, cc, at, ...rest } = over;
  const gpusTotal = rest.gpusTotal ?? rest.spec?.gpus.length ?? 2;
  const spec = rest.spec ?? {
    gpus: gpus(gpusTotal, model, memoryMiB, cc),
    cpu: { model: 'AMD EPYC', cores: 16 },
    memoryMiB: 65_536,
    source: 'declared' as const,
  };
  return {
    id,
    name: id,
    spec,
    location: locationOf(at ?? 'Frankfurt'),
    pricePerHour: ath(1),
    stake: need(spec),
    unbonding: 0n,
    unbondingUntil: null,
    status: 'online',
    suspended: false,
    onlineSince: 0,
    gpusTotal: spec.gpus.length,
    gpusLeased: 0,
    openLeases: 0,
    earned: 0n,
    registeredAt: 0,
    epochDeliveredGpuMs: 0,
    qualityTier: 1,
    slashed: 0n,
    suspendedReason: null,
    checks: {},
    incidents: [],
    rep: newReputation(),
    ...rest,
  } as Container;
}

export function setup(over: Partial<IndexerDeps> = {}, params: Params = DEFAULT_PARAMS) {
  const clock = new ManualClock();
  const indexer = new Indexer({
    clock,
    rng: new SeededRng('indexer-test'),
    requiredStake: (c) => need(c.spec, params),
    reservationTtlMs: TTL_MS,
    offlineAfterMs: OFFLINE_AFTER_MS,
    ...over,
  });
  /** upserts and heartbeats now */
  const add = (...cs: Container[]) => {
    for (const c of cs) {
      indexer.upsert(c);
      indexer.heartbeat(c.id, clock.now());
    }
  };
  return { clock, indexer, add };
}

export function req(over: Partial<MatchRequest> = {}): MatchRequest {
  return { gpus: 1, user: USER, ...over };
}

export function noMatch(fn: () => unknown): AethirError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AethirError);
    expect((e as AethirError).code).toBe('NO_MATCH');
    return e as AethirError;
  }
  throw new Error('expected NO_MATCH');
}

/** `fn()`'s match, or null when it found none (NO_MATCH); any other error is rethrown. */
export function matchOrNull<T>(fn: () => T): T | null {
  try {
    return fn();
  } catch (e) {
    if (e instanceof AethirError && e.code === 'NO_MATCH') return null;
    throw e;
  }
}

export function ruledOut(e: AethirError): Record<string, number> {
  return (e.details as { ruledOut: Record<string, number> }).ruledOut;
}

export function relaxations(e: AethirError): Relaxation[] {
  return (e.details as { relaxations: Relaxation[] }).relaxations;
}

export function nearest(e: AethirError): Relaxation | null {
  return (e.details as { nearest: Relaxation | null }).nearest;
}
