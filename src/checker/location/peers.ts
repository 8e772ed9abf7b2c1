import { addressOf, signMessage, verifySignature } from '../../core/keys.js';
import { LIGHT_MS_PER_KM, type LocationBounds } from './bounds.js';
import { nearestCity } from '../../core/gazetteer.js';
import type { Place } from './judge.js';
import type { Vantage } from './multilaterate.js';

/**
 * Checkers share their location measurements, so that each checker's vote judges a claim with
 * every vantage point (multilaterate.ts): after measuring a container, a checker publishes its
 * RTT, its place and its calibrated bounds, signed with its key, on `PEER_RTT_SUBJECT`. The
 * others keep, per container, the latest measurement of each checker of the ledger for `maxAgeMs`.
 * A message is taken only when its signature verifies, its key is the checker's address, the
 * ledger knows the checker, and every number is in range; anything else is dropped.
 */

export const PEER_RTT_SUBJECT = 'checker.location.rtt';

export interface PeerRttBody {
  chainId: string;
  checker: string;
  container: string;
  lat: number;
  lon: number;
  rttMs: number;
  bounds: LocationBounds;
  /** when the checker measured (its clock) */
  at: number;
}

export interface PeerRttMsg extends PeerRttBody {
  publicKey: string;
  signature: string;
}

function bytes(b: PeerRttBody): string {
  return JSON.stringify([
    'aethir/peer-rtt/1',
    b.chainId,
    b.checker,
    b.container,
    b.lat,
    b.lon,
    b.rttMs,
    b.bounds.lower.baseMs,
    b.bounds.lower.msPerKm,
    b.bounds.upper.baseMs,
    b.bounds.upper.msPerKm,
    b.at,
  ]);
}

/** `body` signed by a checker's key over `text(body)`: what checkers share on the bus. */
export function signByChecker<T>(
  body: T,
  key: { publicKey: string; secretKey: string },
  text: (b: T) => string,
): T & { publicKey: string; signature: string } {
  return { ...body, publicKey: key.publicKey, signature: signMessage(key.secretKey, text(body)) };
}

/** Why a message is not signed by the checker it names (its key and signature), or null. */
export function checkerSignatureProblem<T extends { checker?: unknown }>(
  m: T & { publicKey?: unknown; signature?: unknown },
  text: (b: T) => string,
): string | null {
  if (typeof m.publicKey !== 'string' || addressOf(m.publicKey) !== m.checker)
    return 'key is not the checker';
  if (typeof m.signature !== 'string' || !verifySignature(m.publicKey, text(m), m.signature))
    return 'bad signature';
  return null;
}

export function signPeerRtt(body: PeerRttBody, key: { publicKey: string; secretKey: string }): PeerRttMsg {
  return signByChecker(body, key, bytes);
}

/** A finite number within [lo, hi]. */
export const numberIn = (x: unknown, lo: number, hi: number): x is number =>
  typeof x === 'number' && Number.isFinite(x) && x >= lo && x <= hi;

/** Why a peer measurement is not taken, or null when it is well formed and signed by `checker`. */
export function peerRttProblem(m: unknown, chainId: string): string | null {
  const p = m as Partial<PeerRttMsg> | null;
  if (!p || typeof p !== 'object') return 'not an object';
  if (p.chainId !== chainId) return 'another chain';
  if (typeof p.checker !== 'string' || typeof p.container !== 'string' || p.container.length > 100)
    return 'checker and container must be strings';
  if (!numberIn(p.lat, -90, 90) || !numberIn(p.lon, -180, 180)) return 'place out of range';
  if (!numberIn(p.rttMs, 0, 60_000)) return 'rttMs out of range';
  if (!numberIn(p.at, 0, Number.MAX_SAFE_INTEGER)) return 'bad time';
  const b = p.bounds;
  if (
    !b ||
    !numberIn(b.lower?.baseMs, -1000, 1000) ||
    !numberIn(b.lower?.msPerKm, LIGHT_MS_PER_KM, 1) ||
    !numberIn(b.upper?.baseMs, -1000, 10_000) ||
    !numberIn(b.upper?.msPerKm, LIGHT_MS_PER_KM, 1)
  )
    return 'bounds out of range (slopes at least light in fibre)';
  return checkerSignatureProblem(p as PeerRttMsg, bytes);
}

/** The measurements other checkers shared, per container (see the module comment). */
export class PeerMeasurements {
  private readonly byContainer = new Map<string, Map<string, { v: Vantage; receivedAt: number }>>();
  private readonly names = new Map<string, Place>();

  constructor(
    private readonly opts: {
      chainId: string;
      /** the ledger knows this checker */
      isChecker: (address: string) => boolean;
      /** how long a measurement counts */
      maxAgeMs: number;
    },
  ) {}

  /** Takes a message off the bus, stamped with the receiver's clock; returns why not, or null. */
  add(m: unknown, receivedAt: number): string | null {
    const why = peerRttProblem(m, this.opts.chainId);
    if (why) return why;
    const p = m as PeerRttMsg;
    if (!this.opts.isChecker(p.checker)) return 'not a checker of the ledger';
    let per = this.byContainer.get(p.container);
    if (!per) this.byContainer.set(p.container, (per = new Map()));
    per.set(p.checker, {
      v: { from: this.place(p.lat, p.lon), rttMs: p.rttMs, bounds: p.bounds, by: p.checker },
      receivedAt,
    });
    return null;
  }

  /** A peer's place, named by its nearest city for the reasons ("Frankfurt, DE"); memoised. */
  private place(lat: number, lon: number): Place {
    const key = `${lat},${lon}`;
    let got = this.names.get(key);
    if (!got) {
      const near = nearestCity({ lat, lon });
      got = near ? { ...near, lat, lon } : { lat, lon };
      if (this.names.size >= 1000) this.names.clear(); // a flood of made-up places costs no memory
      this.names.set(key, got);
    }
    return got;
  }

  /** The checkers whose measurement of `container` is fresh. */
  measuredBy(container: string, now: number): Set<string> {
    const per = this.byContainer.get(container);
    const out = new Set<string>();
    for (const [checker, e] of per ?? []) if (now - e.receivedAt <= this.opts.maxAgeMs) out.add(checker);
    return out;
  }

  /** The fresh measurements of `container` by checkers other than `self`. */
  vantages(container: string, now: number, self: string): Vantage[] {
    const per = this.byContainer.get(container);
    if (!per) return [];
    const out: Vantage[] = [];
    for (const [checker, e] of per) {
      if (now - e.receivedAt > this.opts.maxAgeMs) per.delete(checker);
      else if (checker !== self) out.push(e.v);
    }
    return out;
  }
}
