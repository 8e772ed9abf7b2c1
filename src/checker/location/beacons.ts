import type { Landmark } from './checker.js';
import { probeAddress } from './network.js';
import { checkerSignatureProblem, numberIn, signByChecker } from './peers.js';

/**
 * Checkers as landmarks (Gueye et al.'s CBG: every checker calibrates its RTT bounds on hosts at
 * known places, the other checkers among them). A checker announces, signed with its key, where
 * it is and an address that answers a TCP handshake (its API, or a bare probe port), on
 * `BEACON_SUBJECT`; every other checker then times round trips to it when it calibrates, beside
 * the containers whose place the ledger has verified.
 *
 * A beacon is taken only when its signature verifies, its key is the checker's address, the ledger
 * knows the checker, its numbers are in range, its address is a plain host:port, and it is newer
 * than the last one taken from that checker (an old one replayed moves nothing). What a checker
 * says of its own place is taken on trust, as its votes are: it is a checker of the ledger.
 */

export const BEACON_SUBJECT = 'checker.location.beacon';

/** The longest address a beacon may carry. */
const MAX_ADDRESS = 200;

export interface BeaconBody {
  chainId: string;
  checker: string;
  lat: number;
  lon: number;
  /** where a TCP handshake reaches the checker: "http://host:port" or "host:port" */
  address: string;
  /** when the checker announced it (its clock) */
  at: number;
}

export interface BeaconMsg extends BeaconBody {
  publicKey: string;
  signature: string;
}

function bytes(b: BeaconBody): string {
  return JSON.stringify(['aethir/checker-beacon/1', b.chainId, b.checker, b.lat, b.lon, b.address, b.at]);
}

export function signBeacon(body: BeaconBody, key: { publicKey: string; secretKey: string }): BeaconMsg {
  return signByChecker(body, key, bytes);
}

/** Why a beacon is not taken, or null when it is well formed and signed by its checker. */
export function beaconProblem(m: unknown, chainId: string): string | null {
  const b = m as Partial<BeaconMsg> | null;
  if (!b || typeof b !== 'object') return 'not an object';
  if (b.chainId !== chainId) return 'another chain';
  if (typeof b.checker !== 'string') return 'checker must be a string';
  if (!numberIn(b.lat, -90, 90) || !numberIn(b.lon, -180, 180)) return 'place out of range';
  if (!numberIn(b.at, 0, Number.MAX_SAFE_INTEGER)) return 'bad time';
  if (typeof b.address !== 'string' || b.address.length > MAX_ADDRESS || !probeAddress(b.address))
    return 'address must be host:port or an http(s) URL with a host';
  return checkerSignatureProblem(b as BeaconMsg, bytes);
}

/** A checker's id as a landmark: apart from container ids, which may be the same key's address. */
export const checkerLandmarkId = (checker: string) => `checker:${checker}`;

/** The other checkers' beacons: landmarks to calibrate on, and where to probe each. */
export class CheckerBeacons {
  private readonly byChecker = new Map<
    string,
    { lat: number; lon: number; address: string; at: number; receivedAt: number }
  >();

  constructor(
    private readonly opts: {
      chainId: string;
      /** the ledger knows this checker (asked when a beacon arrives and when landmarks are listed) */
      isChecker: (address: string) => boolean;
      /** this checker: never its own landmark */
      self?: string;
      /** how long a beacon counts after it arrived (the receiver's clock) */
      maxAgeMs: number;
    },
  ) {}

  /** Takes a beacon off the bus, stamped with the receiver's clock; returns why not, or null. */
  add(m: unknown, receivedAt: number): string | null {
    const why = beaconProblem(m, this.opts.chainId);
    if (why) return why;
    const b = m as BeaconMsg;
    if (!this.opts.isChecker(b.checker)) return 'not a checker of the ledger';
    const last = this.byChecker.get(b.checker);
    if (last && b.at <= last.at) return 'not newer than the last beacon of this checker';
    this.byChecker.set(b.checker, { lat: b.lat, lon: b.lon, address: b.address, at: b.at, receivedAt });
    return null;
  }

  /** The checkers (not this one) whose beacon is fresh and who are still checkers of the ledger. */
  landmarks(now: number): Landmark[] {
    const out: Landmark[] = [];
    for (const [checker, b] of this.byChecker)
      if (this.fresh(checker, now)) out.push({ id: checkerLandmarkId(checker), lat: b.lat, lon: b.lon });
    return out;
  }

  /** Where to probe a checker landmark (`checkerLandmarkId`), while its beacon is fresh. */
  addressOf(id: string, now: number): string | null {
    if (!id.startsWith('checker:')) return null;
    const checker = id.slice('checker:'.length);
    return this.fresh(checker, now) ? this.byChecker.get(checker)!.address : null;
  }

  private fresh(checker: string, now: number): boolean {
    const b = this.byChecker.get(checker);
    return (
      b !== undefined &&
      checker !== this.opts.self &&
      now - b.receivedAt <= this.opts.maxAgeMs &&
      this.opts.isChecker(checker)
    );
  }
}
