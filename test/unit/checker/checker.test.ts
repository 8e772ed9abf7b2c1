import { describe, expect, it } from 'vitest';
import { ManualClock, ath } from '../../../src/core/index.js';
import type { Container } from '../../../src/ledger/index.js';
import { LivenessChecker } from '../../../src/checker/index.js';

const ME = 'ath1' + 'c'.repeat(40);
const OTHER = 'ath1' + 'd'.repeat(40);
const OFFLINE_AFTER_MS = 30_000;
const RECONFIRM_MS = 15 * 60_000;

function container(id: string, reports: Container['reports'] = {}): Container {
  return {
    id,
    name: id,
    spec: { gpus: [], cpu: { model: 'x', cores: 4 }, memoryMiB: 1024, source: 'declared' },
    location: { city: 'Paris', country: 'FR', region: 'eu-west', lat: 48.85, lon: 2.35 },
    pricePerHour: ath(1),
    stake: 0n,
    status: 'pending',
    gpusTotal: 0,
    gpusLeased: 0,
    openLeases: 0,
    earned: 0n,
    registeredAt: 0,
    reports,
  };
}

function setup() {
  const clock = new ManualClock();
  const checker = new LivenessChecker({
    address: ME,
    clock,
    offlineAfterMs: OFFLINE_AFTER_MS,
    reconfirmMs: RECONFIRM_MS,
  });
  return { clock, checker };
}

describe('LivenessChecker', () => {
  it('exposes its address', () => {
    expect(setup().checker.address).toBe(ME);
  });

  it('reports online after a heartbeat, stamped with its own clock', () => {
    const { clock, checker } = setup();
    checker.heartbeat('c1', 0); // the container's own timestamp is not trusted
    clock.advance(5_000);
    expect(checker.tick([container('c1')])).toEqual([
      { container: 'c1', online: true, observedAt: clock.now() },
    ]);
  });

  it('reports offline for a container it never heard from', () => {
    const { clock, checker } = setup();
    expect(checker.tick([container('c1')])).toEqual([
      { container: 'c1', online: false, observedAt: clock.now() },
    ]);
  });

  it('reports offline after offlineAfterMs of silence', () => {
    const { clock, checker } = setup();
    checker.heartbeat('c1', clock.now());
    const heardAt = clock.now();
    clock.advance(OFFLINE_AFTER_MS);
    // Exactly offlineAfterMs after the heartbeat it still counts as alive.
    const onLedger = container('c1', { [ME]: { online: true, at: heardAt } });
    expect(checker.tick([onLedger])).toEqual([]);
    clock.advance(1);
    expect(checker.tick([onLedger])).toEqual([{ container: 'c1', online: false, observedAt: clock.now() }]);
  });

  it('stays silent while its verdict on the ledger is unchanged and fresh', () => {
    const { clock, checker } = setup();
    checker.heartbeat('c1', clock.now());
    const onLedger = container('c1', { [ME]: { online: true, at: clock.now() } });
    expect(checker.tick([onLedger])).toEqual([]);
    clock.advance(10_000);
    checker.heartbeat('c1', clock.now());
    expect(checker.tick([onLedger])).toEqual([]);
    // An offline verdict that is still right is not repeated either.
    const down = container('c2', { [ME]: { online: false, at: clock.now() } });
    expect(checker.tick([down])).toEqual([]);
  });

  it('only looks at its own report, not other checkers’', () => {
    const { clock, checker } = setup();
    checker.heartbeat('c1', clock.now());
    const c = container('c1', { [OTHER]: { online: true, at: clock.now() } });
    expect(checker.tick([c])).toEqual([{ container: 'c1', online: true, observedAt: clock.now() }]);
  });

  it('reports when its verdict differs from the one on the ledger', () => {
    const { clock, checker } = setup();
    checker.heartbeat('c1', clock.now());
    const stale = container('c1', { [ME]: { online: false, at: clock.now() } });
    expect(checker.tick([stale])).toEqual([{ container: 'c1', online: true, observedAt: clock.now() }]);
  });

  it('re-confirms an unchanged verdict once reconfirmMs have passed', () => {
    const { clock, checker } = setup();
    const reportedAt = clock.now();
    const onLedger = container('c1', { [ME]: { online: true, at: reportedAt } });
    // The container keeps heartbeating; just before reconfirmMs nothing is due yet.
    clock.set(reportedAt + RECONFIRM_MS - 1);
    checker.heartbeat('c1', clock.now());
    expect(checker.tick([onLedger])).toEqual([]);
    clock.set(reportedAt + RECONFIRM_MS);
    expect(checker.tick([onLedger])).toEqual([{ container: 'c1', online: true, observedAt: clock.now() }]);
    // An offline verdict is re-confirmed on the same schedule.
    const down = container('c2', { [ME]: { online: false, at: reportedAt } });
    expect(checker.tick([down])).toEqual([{ container: 'c2', online: false, observedAt: clock.now() }]);
  });

  it('judges each container on its own', () => {
    const { clock, checker } = setup();
    checker.heartbeat('alive', clock.now());
    checker.heartbeat('dead', clock.now());
    clock.advance(OFFLINE_AFTER_MS);
    checker.heartbeat('alive', clock.now());
    clock.advance(OFFLINE_AFTER_MS);
    const now = clock.now();
    const reports = checker.tick([
      container('alive', { [ME]: { online: true, at: now } }),
      container('dead', { [ME]: { online: true, at: now } }),
      container('fresh'),
    ]);
    expect(reports).toEqual([
      { container: 'dead', online: false, observedAt: now },
      { container: 'fresh', online: false, observedAt: now },
    ]);
  });

  it('accepts any iterable of containers', () => {
    const { checker } = setup();
    function* gen() {
      yield container('a');
      yield container('b');
    }
    expect(checker.tick(gen()).map((r) => r.container)).toEqual(['a', 'b']);
    expect(checker.tick([])).toEqual([]);
  });
});
