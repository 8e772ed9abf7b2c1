import { describe, expect, it } from 'vitest';
import { ath } from '../../../src/core/index.js';
import {
  HOUR_MS,
  TestNet,
  alice,
  checkers,
  conserved,
  escrow,
  host,
  makeGenesis,
  registerPayload,
} from './fixtures.js';

const PRICE = ath(1) / 1000n;

/** `host` online offering volumes on a network that proves them; alice's volume on it. */
function net(proven = true) {
  const t = new TestNet(makeGenesis(proven ? { volumeSealIterations: 1024 } : undefined));
  t.onlineContainer(host, 1);
  t.tx(host, 'container.register', {
    ...registerPayload(1, ath(1)),
    volumes: { pricePerGiBHour: PRICE, capacityGiB: 100 },
  });
  t.deposit(alice, ath(1000));
  const r = t.tx(alice, 'volume.create', {
    name: 'data',
    container: host.address,
    sizeMiB: 10 * 1024,
    maxPricePerGiBHour: PRICE,
    depositSeconds: 10 * 3600,
  });
  return { t, id: String(r.volume) };
}

const storage = (
  t: TestNet,
  i: 0 | 1 | 2,
  volume: string,
  ok: boolean,
  extra: Record<string, unknown> = {},
) =>
  t.tx(checkers[i], 'checker.report', {
    container: host.address,
    check: 'storage',
    volume,
    ok,
    observedAt: t.time,
    ...extra,
  });

describe('volumes: proof of storage on the ledger (checker.report storage)', () => {
  it('a volume records the sealing work of its network; without the parameter nothing is added', () => {
    expect(net().t.ledger.volume(net().id)!.seal).toBe(1024);
    const old = net(false);
    expect('seal' in old.t.ledger.volume(old.id)!).toBe(false);
    // an unproven volume cannot be judged on storage
    old.t.expectRejectTx(
      checkers[0],
      'checker.report',
      { container: host.address, check: 'storage', volume: old.id, ok: false, observedAt: old.t.time },
      'INVALID_TRANSACTION',
    );
  });

  it("the majority's failure closes the volume as lost: unsettled time refunded, the host slashed", () => {
    const { t, id } = net();
    t.advance(HOUR_MS);
    t.tx(host, 'volume.settle', { volume: id });
    t.advance(2 * HOUR_MS);
    const before = escrow(t, alice.address);
    const slashedBefore = t.ledger.container(host.address)!.slashed;
    expect(storage(t, 0, id, false, { reason: 'wrong proof (2 looks in a row)' })).toMatchObject({
      decided: false,
    });
    const r = storage(t, 1, id, false);
    expect(r).toMatchObject({ decided: true, ok: false, lost: true });
    const v = t.ledger.volume(id)!;
    expect(v).toMatchObject({ status: 'lost', closedBy: 'checkers' });
    expect(v.closeReason).toMatch(/storage check failed: wrong proof/);
    expect(v.charged).toBe(PRICE * 10n); // the settled hour only
    expect(escrow(t, alice.address)).toBe(before + v.escrow - v.charged);
    expect(t.ledger.container(host.address)!.slashed).toBeGreaterThan(slashedBefore);
    expect(t.lastEvents.find((e) => e.type === 'VolumeClosed')).toMatchObject({
      status: 'lost',
      by: 'checkers',
    });
    conserved(t);
    // a closed volume takes no more reports
    t.expectRejectTx(
      checkers[2],
      'checker.report',
      { container: host.address, check: 'storage', volume: id, ok: false, observedAt: t.time },
      'CONFLICT',
    );
  });

  it('a lone dishonest checker cannot get an honest host’s volume marked lost', () => {
    const { t, id } = net();
    const slashed = t.ledger.container(host.address)!.slashed;
    for (let i = 0; i < 5; i++) {
      t.advance(60_000);
      storage(t, 2, id, false, { reason: 'lies' });
    }
    expect(t.ledger.volume(id)!.status).toBe('active');
    storage(t, 0, id, true);
    expect(storage(t, 1, id, true)).toMatchObject({ decided: true, ok: true });
    expect(t.ledger.volume(id)!.status).toBe('active');
    expect(t.ledger.container(host.address)!.slashed).toBe(slashed);
    // the liar is counted incorrect
    expect(t.ledger.checker(checkers[2].address)!.incorrectTotal).toBeGreaterThan(0);
  });

  it('a failure decided while the host is offline changes nothing (liveness handles silence)', () => {
    const { t, id } = net();
    t.report(host.address, false, 0);
    t.report(host.address, false, 1);
    expect(t.ledger.container(host.address)!.status).toBe('offline');
    const slashed = t.ledger.container(host.address)!.slashed;
    storage(t, 0, id, false);
    expect(storage(t, 1, id, false)).toMatchObject({ decided: true, ok: false, lost: false });
    expect(t.ledger.volume(id)!.status).toBe('active');
    expect(t.ledger.container(host.address)!.slashed).toBe(slashed);
  });

  it('refuses storage reports that name no volume, another host’s, or a volume on a non-storage check', () => {
    const { t, id } = net();
    const base = { container: host.address, ok: false, observedAt: t.time };
    t.expectRejectTx(checkers[0], 'checker.report', { ...base, check: 'storage' }, 'INVALID_TRANSACTION');
    t.expectRejectTx(
      checkers[0],
      'checker.report',
      { ...base, check: 'liveness', volume: id },
      'INVALID_TRANSACTION',
    );
    t.expectRejectTx(
      checkers[0],
      'checker.report',
      { ...base, check: 'storage', volume: 'Vnope' },
      'NOT_FOUND',
    );
    t.expectRejectTx(
      checkers[0],
      'checker.report',
      { ...base, container: checkers[1].address, check: 'storage', volume: id },
      'NOT_FOUND',
    );
    // a stranger is no checker
    t.expectRejectTx(alice, 'checker.report', { ...base, check: 'storage', volume: id }, 'UNAUTHORIZED');
  });
});
