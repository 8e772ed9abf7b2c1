import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/index.js';
import { LivenessChecker, type LivenessReport } from '../../../src/checker/index.js';

const ME = 'ath1' + 'c'.repeat(40);
const OFFLINE_AFTER_MS = 30_000;
const RECONFIRM_MS = 15 * 60_000;

const c = (id: string) => ({ id });

function setup() {
  const clock = new ManualClock();
  const checker = new LivenessChecker({
    address: ME,
    clock,
    offlineAfterMs: OFFLINE_AFTER_MS,
    reconfirmMs: RECONFIRM_MS,
  });
  /** what tick() wants reported, each then accepted on the log */
  const tickAndAccept = (...ids: string[]): LivenessReport[] => {
    const r = checker.tick(ids.map(c));
    r.forEach((x) => checker.reportedOk(x));
    return r;
  };
  return { clock, checker, tickAndAccept };
}

describe('LivenessChecker', () => {
  it('exposes its address', () => {
    expect(setup().checker.address).toBe(ME);
  });

  it('reports online after a heartbeat, stamped with its own clock', () => {
    const { clock, checker } = setup();
    checker.heartbeat('c1', 0); // the container's own timestamp is not trusted
    clock.advance(5_000);
    expect(checker.tick([c('c1')])).toEqual([{ container: 'c1', online: true, observedAt: clock.now() }]);
  });

  it('calls a container it never heard from offline only once it has listened for offlineAfterMs', () => {
    const { clock, checker } = setup();
    // Just started: silence from c1 means nothing yet (its heartbeat may still be on the way).
    expect(checker.tick([c('c1')])).toEqual([]);
    clock.advance(OFFLINE_AFTER_MS);
    expect(checker.tick([c('c1')])).toEqual([]);
    clock.advance(1);
    expect(checker.tick([c('c1')])).toEqual([{ container: 'c1', online: false, observedAt: clock.now() }]);
    // A container that appears later gets the same grace from when it appeared.
    expect(checker.tick([c('c2')])).toEqual([]);
    clock.advance(OFFLINE_AFTER_MS + 1);
    expect(checker.tick([c('c2')])).toEqual([{ container: 'c2', online: false, observedAt: clock.now() }]);
  });

  it('reports offline after offlineAfterMs of silence, not before', () => {
    const { clock, checker, tickAndAccept } = setup();
    checker.heartbeat('c1', clock.now());
    tickAndAccept('c1');
    clock.advance(OFFLINE_AFTER_MS);
    expect(checker.tick([c('c1')])).toEqual([]);
    clock.advance(1);
    expect(checker.tick([c('c1')])).toEqual([{ container: 'c1', online: false, observedAt: clock.now() }]);
  });

  it('stays silent while its accepted verdict is unchanged and fresh', () => {
    const { clock, checker, tickAndAccept } = setup();
    checker.heartbeat('c1', clock.now());
    checker.tick([c('c2')]);
    clock.advance(OFFLINE_AFTER_MS + 1);
    checker.heartbeat('c1', clock.now());
    expect(tickAndAccept('c1', 'c2')).toHaveLength(2);
    clock.advance(10_000);
    checker.heartbeat('c1', clock.now());
    expect(checker.tick([c('c1'), c('c2')])).toEqual([]);
  });

  it('reports again when a report was not accepted (never marked reportedOk)', () => {
    const { clock, checker } = setup();
    checker.heartbeat('c1', clock.now());
    expect(checker.tick([c('c1')])).toHaveLength(1);
    expect(checker.tick([c('c1')])).toHaveLength(1);
  });

  it('reports when its verdict changes', () => {
    const { clock, checker, tickAndAccept } = setup();
    checker.tick([c('c1')]);
    clock.advance(OFFLINE_AFTER_MS + 1);
    expect(tickAndAccept('c1')).toEqual([{ container: 'c1', online: false, observedAt: clock.now() }]);
    checker.heartbeat('c1', clock.now());
    expect(checker.tick([c('c1')])).toEqual([{ container: 'c1', online: true, observedAt: clock.now() }]);
  });

  it('re-confirms an unchanged verdict once reconfirmMs have passed', () => {
    const { clock, checker, tickAndAccept } = setup();
    checker.tick([c('c2')]); // c2 appears, never heard from
    clock.advance(OFFLINE_AFTER_MS + 1);
    const t0 = clock.now();
    checker.heartbeat('c1', t0);
    expect(tickAndAccept('c1', 'c2')).toHaveLength(2);
    clock.set(t0 + RECONFIRM_MS - 1);
    checker.heartbeat('c1', clock.now());
    expect(checker.tick([c('c1'), c('c2')])).toEqual([]);
    clock.set(t0 + RECONFIRM_MS);
    expect(checker.tick([c('c1'), c('c2')])).toEqual([
      { container: 'c1', online: true, observedAt: clock.now() },
      { container: 'c2', online: false, observedAt: clock.now() },
    ]);
  });

  it('judges each container on its own', () => {
    const { clock, checker, tickAndAccept } = setup();
    checker.heartbeat('alive', clock.now());
    checker.heartbeat('dead', clock.now());
    tickAndAccept('alive', 'dead');
    clock.advance(OFFLINE_AFTER_MS);
    checker.heartbeat('alive', clock.now());
    clock.advance(OFFLINE_AFTER_MS);
    const now = clock.now();
    // 'fresh' just appeared: not judged before this checker has listened for it.
    expect(checker.tick([c('alive'), c('dead'), c('fresh')])).toEqual([
      { container: 'dead', online: false, observedAt: now },
    ]);
  });
});
