import { describe, expect, it } from 'vitest';
import { locatedWord } from '../../../../src/cli/commands/containers.js';

describe('containers ls: the LOCATED column', () => {
  it("says the checkers' last location verdict, and unverified where there is none", () => {
    expect(locatedWord({ ok: true, at: 1, reason: 'RTT from Frankfurt, DE is 3.1 ms: consistent' })).toBe(
      'verified',
    );
    expect(locatedWord({ ok: false, at: 2, reason: 'RTT from Singapore, SG is 7.1 ms: …' })).toBe('refuted');
    // never measured (no endpoint announced, or not yet checked): the place is the host's own word
    expect(locatedWord(undefined)).toBe('unverified');
  });
});
