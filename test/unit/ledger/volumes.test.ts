import { describe, expect, it } from 'vitest';
import { ath } from '../../../src/core/index.js';
import { MountPath, volumeCost } from '../../../src/ledger/index.js';
import { volumeProblems } from '../../../src/ledger/modules/volumes/invariants.js';
import {
  HOUR_MS,
  TestNet,
  alice,
  bob,
  conserved,
  escrow,
  host,
  host2,
  leasePayload,
  registerPayload,
} from './fixtures.js';

const PRICE = ath(1) / 1000n; // per GiB-hour
const GIB = 1024;

/** A network with `host` online offering volumes, alice with escrow. */
function net(): TestNet {
  const t = new TestNet();
  t.onlineContainer(host, 1);
  t.tx(host, 'container.register', {
    ...registerPayload(1, ath(1)),
    volumes: { pricePerGiBHour: PRICE, capacityGiB: 100 },
  });
  t.deposit(alice, ath(1000));
  return t;
}

function create(t: TestNet, name = 'data', sizeMiB = 10 * GIB, extra: Record<string, unknown> = {}): string {
  const r = t.tx(alice, 'volume.create', {
    name,
    container: host.address,
    sizeMiB,
    maxPricePerGiBHour: PRICE,
    depositSeconds: 10 * 3600,
    ...extra,
  });
  return String(r.volume);
}

describe('volumes: the ledger', () => {
  it('creates a volume at the host price, locking its deposit from the owner escrow', () => {
    const t = net();
    const before = escrow(t, alice.address);
    const id = create(t);
    const v = t.ledger.volume(id)!;
    expect(v).toMatchObject({
      name: 'data',
      owner: alice.address,
      container: host.address,
      status: 'active',
    });
    expect(v.escrow).toBe(PRICE * 10n * 10n);
    expect(escrow(t, alice.address)).toBe(before - v.escrow);
    expect(t.ledger.volumeByName(alice.address, 'data')!.id).toBe(id);
    expect(t.lastEvents.map((e) => e.type)).toContain('VolumeCreated');
    conserved(t);
  });

  it('bills per GiB-hour with the 80/20 split, never twice, and refunds the rest exactly on delete', () => {
    const t = net();
    const id = create(t);
    const before = escrow(t, alice.address);
    t.advance(HOUR_MS);
    t.tx(host, 'volume.settle', { volume: id });
    t.tx(host, 'volume.settle', { volume: id }); // same block time again: nothing more
    const v = t.ledger.volume(id)!;
    expect(v.charged).toBe(PRICE * 10n);
    expect(v.hostShare).toBe((PRICE * 10n * 8000n) / 10_000n);
    expect(v.hostShare + v.protocolShare).toBe(v.charged);
    t.advance(HOUR_MS / 2);
    const r = t.tx(alice, 'volume.delete', { volume: id });
    const d = t.ledger.volume(id)!;
    expect(d.status).toBe('deleted');
    expect(d.charged).toBe(PRICE * 15n);
    expect(BigInt(String(r.refund))).toBe(d.escrow - d.charged);
    expect(escrow(t, alice.address)).toBe(before + d.escrow - d.charged);
    expect(t.ledger.volumeByName(alice.address, 'data')).toBeUndefined();
    expect(volumeProblems(t.ledger)).toEqual([]);
    conserved(t);
    // the name is free again
    create(t, 'data');
  });

  it('does not bill the time its host is offline', () => {
    const t = net();
    const id = create(t);
    t.advance(HOUR_MS);
    t.report(host.address, false, 0);
    t.report(host.address, false, 1);
    expect(t.ledger.container(host.address)!.status).toBe('offline');
    expect(t.ledger.volume(id)!.hostDownSince).not.toBeNull();
    t.advance(5 * HOUR_MS);
    t.report(host.address, true, 0);
    t.report(host.address, true, 1);
    expect(t.ledger.volume(id)!.hostDownSince).toBeNull();
    t.advance(HOUR_MS);
    t.tx(host, 'volume.settle', { volume: id });
    const v = t.ledger.volume(id)!;
    expect(v.servedMs).toBe(2 * HOUR_MS);
    expect(v.charged).toBe(volumeCost(PRICE, 10 * GIB, 2 * HOUR_MS));
    conserved(t);
  });

  it('a lost volume refunds all unsettled time and slashes its host like downtime', () => {
    const t = net();
    const id = create(t);
    t.advance(HOUR_MS);
    t.tx(host, 'volume.settle', { volume: id });
    t.advance(3 * HOUR_MS);
    const stake = t.ledger.container(host.address)!.stake;
    const before = escrow(t, alice.address);
    t.tx(host, 'volume.lost', { volume: id, reason: 'disk failed' });
    const v = t.ledger.volume(id)!;
    expect(v.status).toBe('lost');
    expect(v.charged).toBe(PRICE * 10n); // the first hour only
    expect(escrow(t, alice.address)).toBe(before + v.escrow - v.charged);
    const ev = t.lastEvents.find((e) => e.type === 'VolumeClosed');
    expect(ev).toMatchObject({ status: 'lost' });
    const c = t.ledger.container(host.address)!;
    expect(c.slashed).toBeGreaterThan(0n);
    expect(c.stake + t.ledger.vesting(host.address).reduce((s, e) => s + e.amount, 0n)).toBeLessThan(
      stake + v.hostShare,
    );
    conserved(t);
  });

  it('lets a lease mount its owner volume there, one writer at a time', () => {
    const t = net();
    const id = create(t);
    const open = (k = alice, volumes: unknown = [{ volume: id, path: '/data' }], c = host.address) =>
      t.tx(k, 'lease.open', {
        ...leasePayload(c, 0, 600, ath(1)),
        workload: { command: ['sh'], volumes },
      });
    const l1 = String(open().lease);
    t.expectRejectTx(
      alice,
      'lease.open',
      {
        ...leasePayload(host.address, 0, 600, ath(1)),
        workload: { command: ['sh'], volumes: [{ volume: id, path: '/data' }] },
      },
      'CONFLICT',
    );
    // a reader beside the writer is fine
    open(alice, [{ volume: id, path: '/data', readOnly: true }]);
    t.tx(alice, 'lease.close', { lease: l1 });
    open(); // the next writer, once the first is closed
    // deleting a mounted volume is refused
    t.expectRejectTx(alice, 'volume.delete', { volume: id }, 'CONFLICT');
  });

  describe('attacks', () => {
    it("refuses someone else's volume, its settle, delete and lost, learning nothing", () => {
      const t = net();
      const id = create(t);
      t.deposit(bob, ath(100));
      const lease = {
        ...leasePayload(host.address, 0, 600, ath(1)),
        workload: { command: ['sh'], volumes: [{ volume: id, path: '/data' }] },
      };
      const e = t.expectRejectTx(bob, 'lease.open', lease, 'NOT_FOUND');
      expect(e.message).not.toContain(alice.address);
      t.expectRejectTx(bob, 'volume.delete', { volume: id }, 'NOT_FOUND');
      t.expectRejectTx(bob, 'volume.topup', { volume: id, amount: '1' }, 'NOT_FOUND');
      t.expectRejectTx(bob, 'volume.settle', { volume: id }, 'NOT_FOUND');
      t.expectRejectTx(bob, 'volume.lost', { volume: id, reason: 'x' }, 'NOT_FOUND');
      t.expectRejectTx(alice, 'volume.settle', { volume: id }, 'UNAUTHORIZED');
      t.expectRejectTx(alice, 'volume.lost', { volume: id, reason: 'x' }, 'UNAUTHORIZED');
      // the host may not delete a volume whose escrow still pays
      t.expectRejectTx(host, 'volume.delete', { volume: id }, 'UNAUTHORIZED');
    });

    it('refuses sizes of 0, absurd or beyond the host capacity, bad names and a name twice', () => {
      const t = net();
      const base = { name: 'x', container: host.address, sizeMiB: 1024, maxPricePerGiBHour: PRICE };
      for (const sizeMiB of [0, -1, 1.5, 15, 2 ** 40, Number.MAX_SAFE_INTEGER])
        t.expectRejectTx(alice, 'volume.create', { ...base, sizeMiB }, 'INVALID_TRANSACTION');
      t.expectRejectTx(alice, 'volume.create', { ...base, sizeMiB: 101 * GIB }, 'CAPACITY_EXHAUSTED');
      for (const name of ['', '../x', 'A', 'a/b', 'x'.repeat(64), '-x'])
        t.expectRejectTx(alice, 'volume.create', { ...base, name }, 'INVALID_TRANSACTION');
      t.expectRejectTx(
        alice,
        'volume.create',
        { ...base, maxPricePerGiBHour: PRICE - 1n },
        'INVALID_TRANSACTION',
      );
      t.expectRejectTx(alice, 'volume.create', { ...base, container: host2.address }, 'NOT_FOUND');
      t.expectRejectTx(bob, 'volume.create', base, 'INSUFFICIENT_FUNDS'); // bob deposited nothing
      create(t, 'x', 1024);
      t.expectRejectTx(alice, 'volume.create', base, 'CONFLICT');
    });

    it('refuses mount paths escaping or shadowing the system, a volume twice, and a host elsewhere', () => {
      const t = net();
      const id = create(t);
      const open = (volumes: unknown, code: string, container = host.address) =>
        t.expectRejectTx(
          alice,
          'lease.open',
          { ...leasePayload(container, 0, 600, ath(1)), workload: { command: ['sh'], volumes } },
          code,
        );
      for (const path of [
        '/data/../etc',
        '../x',
        'data',
        '/',
        '/etc',
        '/usr/lib',
        '/proc',
        '/data/./x',
        '//x',
        '/a b',
      ])
        open([{ volume: id, path }], 'INVALID_TRANSACTION');
      open(
        [
          { volume: id, path: '/a' },
          { volume: id, path: '/b' },
        ],
        'INVALID_TRANSACTION',
      );
      t.onlineContainer(host2, 1);
      open([{ volume: id, path: '/data' }], 'INVALID_TRANSACTION', host2.address);
    });
  });
});

describe('MountPath', () => {
  it('takes plain absolute paths, home directories and dot segments (/root/.cache, as Akash SDLs mount)', () => {
    for (const p of ['/data', '/root/.cache', '/root', '/home/u/.cache/huggingface', '/workspace/a_b-c.d'])
      expect(MountPath.safeParse(p).success, p).toBe(true);
  });

  it('refuses system directories, escapes and malformed paths', () => {
    for (const p of [
      '/etc',
      '/usr/local',
      '/proc/self',
      '/dev',
      '/sys',
      '/run/x',
      '/tmp',
      '/lib64',
      '/boot',
      '/data/..',
      '/data/../etc',
      '/./data',
      '/.',
      'data',
      '/',
      '//data',
      '/data/',
      '/a:/b',
      '/a/b/c/d/e/f/g/h/i',
      `/${'x'.repeat(65)}`,
    ])
      expect(MountPath.safeParse(p).success, p).toBe(false);
  });
});
