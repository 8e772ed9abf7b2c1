import { describe, expect, it } from 'vitest';
import { keyPairFromSeed } from '../../../src/core/keys.js';
import {
  CAPACITY_START_SKEW_MS,
  capacityStartProblem,
  signCapacityStart,
} from '../../../src/core/check-auth.js';

const checker = keyPairFromSeed('check-auth:checker');
const other = keyPairFromSeed('check-auth:other');
const start = { container: 'ctr-a', checker: checker.address, session: 'cap-0011', at: 1_000_000 };

describe('a signed capacity session start', () => {
  it('verifies for the checker, container, session and time it was signed for', () => {
    const auth = signCapacityStart(checker, start);
    expect(capacityStartProblem(auth, start, start.at)).toBeNull();
    expect(capacityStartProblem(auth, start, start.at + CAPACITY_START_SKEW_MS)).toBeNull();
  });

  it('is refused unsigned, for another container or session, with another key, or tampered', () => {
    const auth = signCapacityStart(checker, start);
    expect(capacityStartProblem(undefined, start, start.at)).toBe('the start is not signed');
    expect(capacityStartProblem(auth, { ...start, container: 'ctr-b' }, start.at)).toBe(
      'the signature does not verify',
    );
    expect(capacityStartProblem(auth, { ...start, session: 'cap-0012' }, start.at)).toBe(
      'the signature does not verify',
    );
    // a stranger signs with its own key in the checker's name
    const forged = signCapacityStart(other, start);
    expect(capacityStartProblem(forged, start, start.at)).toMatch(/^the key is not ath/);
    // the checker's key, another's signature
    expect(capacityStartProblem({ ...forged, publicKey: checker.publicKey }, start, start.at)).toBe(
      'the signature does not verify',
    );
    // its time moved: the signature covers it
    expect(capacityStartProblem({ ...auth, at: auth.at + 1 }, start, start.at)).toBe(
      'the signature does not verify',
    );
    expect(capacityStartProblem({ ...auth, signature: 'zz' }, start, start.at)).toBe(
      'the signature does not verify',
    );
    expect(capacityStartProblem({ ...auth, publicKey: 'not hex' }, start, start.at)).toMatch(
      /^the key is not/,
    );
  });

  it('is refused when signed too long before or after the host’s clock', () => {
    const auth = signCapacityStart(checker, start);
    expect(capacityStartProblem(auth, start, start.at + CAPACITY_START_SKEW_MS + 1)).toMatch(
      /^signed 120 s from this host's clock/,
    );
    expect(capacityStartProblem(auth, start, start.at - CAPACITY_START_SKEW_MS - 1)).toMatch(
      /^signed -120 s from this host's clock/,
    );
  });
});
