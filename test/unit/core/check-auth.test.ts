import { describe, expect, it } from 'vitest';
import { keyPairFromSeed } from '../../../src/core/keys.js';
import {
  CAPACITY_START_SKEW_MS,
  capacityStartProblem,
  capacityStepProblem,
  signCapacityStart,
  signCapacityStep,
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

describe('a signed later step of a capacity session', () => {
  const step = {
    container: 'ctr-a',
    checker: checker.address,
    session: 'cap-0011',
    message: { type: 'open', id: 'x', indices: [1, 2] },
  };
  const bad = 'the step is not signed by the checker that started the session';

  it('verifies with the starting key, for its container, session, number and message, after the last number taken', () => {
    const auth = signCapacityStep(checker, { ...step, seq: 3 });
    expect(capacityStepProblem(checker.publicKey, auth, step, 2)).toBeNull();
    expect(capacityStepProblem(checker.publicKey, auth, step, 0)).toBeNull();
    // the same message with its keys in another order is the same step (canonical form)
    expect(
      capacityStepProblem(
        checker.publicKey,
        auth,
        { ...step, message: { indices: [1, 2], id: 'x', type: 'open' } },
        2,
      ),
    ).toBeNull();
  });

  it('is refused unsigned, replayed or out of order, with another key, or for anything else than it was signed for', () => {
    const auth = signCapacityStep(checker, { ...step, seq: 3 });
    expect(capacityStepProblem(checker.publicKey, undefined, step, 0)).toBe('the step is not signed');
    expect(capacityStepProblem(checker.publicKey, auth, step, 3)).toMatch(/^step 3 is not after step 3/);
    expect(capacityStepProblem(checker.publicKey, auth, step, 7)).toMatch(/^step 3 is not after step 7/);
    expect(capacityStepProblem(checker.publicKey, { ...auth, seq: 4 }, step, 0)).toBe(bad);
    expect(capacityStepProblem(checker.publicKey, { ...auth, seq: Number.NaN }, step, 0)).toMatch(
      /is not after/,
    );
    expect(capacityStepProblem(other.publicKey, auth, step, 0)).toBe(bad);
    expect(
      capacityStepProblem(checker.publicKey, signCapacityStep(other, { ...step, seq: 3 }), step, 0),
    ).toBe(bad);
    for (const moved of [
      { ...step, container: 'ctr-b' },
      { ...step, session: 'cap-0012' },
      { ...step, checker: other.address },
      { ...step, message: { type: 'open', id: 'x', indices: [1, 3] } },
      { ...step, message: { type: 'end' } },
    ])
      expect(capacityStepProblem(checker.publicKey, auth, moved, 0)).toBe(bad);
    expect(capacityStepProblem(checker.publicKey, { seq: 3, signature: 'zz' }, step, 0)).toBe(bad);
    // a message nested past what canonicalize encodes is refused, saying why, never thrown
    let deep: Record<string, unknown> = { type: 'open' };
    for (let i = 0; i < 2000; i++) deep = { type: 'open', x: deep };
    expect(capacityStepProblem(checker.publicKey, auth, { ...step, message: deep }, 0)).toMatch(
      /^the step cannot be encoded: value nests deeper than 1000 levels/,
    );
  });
});
