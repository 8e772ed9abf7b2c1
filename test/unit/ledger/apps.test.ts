import { describe, expect, it } from 'vitest';
import { ath } from '../../../src/core/index.js';
import { Ledger, MAX_MANIFEST_BYTES, manifestBytes, type AppManifest } from '../../../src/ledger/index.js';
import { TestNet, alice, bob, conserved, escrow, host, leasePayload, stranger } from './fixtures.js';

const PRICE = ath(2);

function manifest(name = 'demo', version = '1.0.0', gpus = 0, extra: Partial<AppManifest> = {}): AppManifest {
  return {
    name,
    version,
    services: {
      main: {
        install: ['echo model-weights > weights.txt'],
        command: ['sh', '-c', 'cat "$AETHIR_APP_DIR/weights.txt"'],
        gpus,
      },
    },
    ...extra,
  };
}

function publish(t: TestNet, who = alice, m: AppManifest = manifest()) {
  return t.tx(who, 'app.publish', { name: m.name, version: m.version, manifest: m });
}

/** An app lease: the fixture's lease with `workload: { app }` instead of a command. */
function appLease(gpus: number, workload: Record<string, unknown>) {
  return { ...leasePayload(host.address, gpus, 1800, PRICE), workload };
}

describe('app.publish', () => {
  it('the first publisher owns the name; each version is recorded, the latest is the last published', () => {
    const t = new TestNet();
    t.advance(1000);
    const r = publish(t);
    expect(r).toEqual({ app: 'demo', version: '1.0.0', owner: alice.address, versions: 1 });
    const created = t.time;
    expect(t.ledger.app('demo')).toEqual({
      name: 'demo',
      owner: alice.address,
      latest: '1.0.0',
      versions: ['1.0.0'],
      createdAt: created,
      updatedAt: created,
    });
    t.advance(5000);
    publish(t, alice, manifest('demo', '1.1.0', 1, { description: 'now on a GPU' }));
    expect(t.ledger.app('demo')).toMatchObject({
      owner: alice.address,
      latest: '1.1.0',
      versions: ['1.0.0', '1.1.0'],
      createdAt: created,
      updatedAt: t.time,
    });
    expect(t.ledger.appRelease('demo')!.manifest).toEqual(
      manifest('demo', '1.1.0', 1, { description: 'now on a GPU' }),
    );
    expect(t.ledger.appRelease('demo', '1.0.0')).toEqual({
      name: 'demo',
      version: '1.0.0',
      manifest: manifest(),
      publishedAt: created,
    });
    expect(t.ledger.appRelease('demo', '9.9.9')).toBeUndefined();
    expect(t.ledger.appRelease('nope')).toBeUndefined();
    publish(t, bob, manifest('other'));
    expect(t.ledger.apps().map((a) => [a.name, a.owner])).toEqual([
      ['demo', alice.address],
      ['other', bob.address],
    ]);
    conserved(t);
  });

  it('only the owner publishes new versions; others are UNAUTHORIZED and change nothing', () => {
    const t = new TestNet();
    publish(t);
    const e = t.expectRejectTx(
      bob,
      'app.publish',
      { name: 'demo', version: '2.0.0', manifest: manifest('demo', '2.0.0') },
      'UNAUTHORIZED',
    );
    expect(e.message).toMatch(/app demo belongs to ath1.*only its owner publishes new versions/);
    // an account with nothing at all is no different
    t.expectRejectTx(
      stranger,
      'app.publish',
      { name: 'demo', version: '2.0.0', manifest: manifest('demo', '2.0.0') },
      'UNAUTHORIZED',
    );
    expect(t.ledger.app('demo')!.versions).toEqual(['1.0.0']);
  });

  it('a version is published once and never changes (CONFLICT)', () => {
    const t = new TestNet();
    publish(t);
    const changed = manifest('demo', '1.0.0', 2);
    const e = t.expectRejectTx(
      alice,
      'app.publish',
      { name: 'demo', version: '1.0.0', manifest: changed },
      'CONFLICT',
    );
    expect(e.message).toMatch(/demo 1\.0\.0 is already published/);
    expect(t.ledger.appRelease('demo', '1.0.0')!.manifest.services.main!.gpus).toBe(0);
  });

  it('rejects malformed manifests with the path of the problem, leaving the root unchanged', () => {
    const t = new TestNet();
    const reject = (payload: Record<string, unknown>, message: RegExp) =>
      expect(t.expectRejectTx(alice, 'app.publish', payload, 'INVALID_TRANSACTION').message).toMatch(message);
    const m = manifest();
    reject({ name: 'Demo', version: '1.0.0', manifest: { ...m, name: 'Demo' } }, /name: must be 2 to 41/);
    reject({ name: 'demo', version: 'v1', manifest: { ...m, version: 'v1' } }, /version: must be a version/);
    reject(
      { name: 'demo', version: '1.0.1', manifest: m },
      /manifest: the manifest must have the name and version/,
    );
    reject(
      {
        name: 'demo',
        version: '1.0.0',
        manifest: { ...m, services: { main: { command: 'cat x', gpus: 0 } } },
      },
      /manifest\.services\.main\.command/,
    );
    reject(
      { name: 'demo', version: '1.0.0', manifest: { ...m, services: {} } },
      /manifest\.services: an app needs one service/,
    );
    reject(
      {
        name: 'demo',
        version: '1.0.0',
        manifest: { ...m, services: { a: m.services.main, b: m.services.main } },
      },
      /manifest\.services: an app has exactly one service for now \(got a, b\)/,
    );
    reject(
      { name: 'demo', version: '1.0.0', manifest: { ...m, image: 'ubuntu' } },
      /manifest: Unrecognized key: "image"/,
    );
    reject({ name: 'demo', version: '1.0.0' }, /manifest: /);
  });

  it('bounds the size of a manifest (16 KiB of canonical JSON)', () => {
    const t = new TestNet();
    const env = (n: number) => ({ BIG: 'x'.repeat(n) });
    const base = manifest();
    const sized = (n: number) => ({ ...base, services: { main: { ...base.services.main!, env: env(n) } } });
    // a manifest under the bound is taken, one over it is not
    const fits = 4096;
    expect(manifestBytes(sized(fits))).toBeLessThan(MAX_MANIFEST_BYTES);
    publish(t, alice, sized(fits));
    const many = {
      ...base,
      version: '1.0.1',
      services: {
        main: { ...base.services.main!, install: Array.from({ length: 5 }, () => 'y'.repeat(4000)) },
      },
    };
    expect(manifestBytes(many)).toBeGreaterThan(MAX_MANIFEST_BYTES);
    const e = t.expectRejectTx(
      alice,
      'app.publish',
      { name: 'demo', version: '1.0.1', manifest: many },
      'INVALID_TRANSACTION',
    );
    expect(e.message).toMatch(/the manifest is \d+ bytes as canonical JSON, at most 16384 are allowed/);
  });

  it('replays to the same state root', () => {
    const t = new TestNet();
    publish(t);
    t.advance(1000);
    publish(t, alice, manifest('demo', '1.0.1'));
    const replay = Ledger.fromGenesis(t.genesis);
    for (const a of t.accepted) replay.apply(a.tx, a);
    expect(replay.root()).toBe(t.ledger.root());
  });
});

describe('lease.open with an app', () => {
  function net(gpus = 4): TestNet {
    const t = new TestNet();
    t.onlineContainer(host, gpus, PRICE);
    t.deposit(alice, ath(100));
    publish(t, bob, manifest('demo', '1.0.0', 0));
    publish(t, bob, manifest('demo', '2.0.0', 2));
    return t;
  }

  it('opens a lease naming a published app (no command), with the GPUs it needs', () => {
    const t = net();
    const r = t.tx(alice, 'lease.open', appLease(2, { app: 'demo' }));
    expect(t.ledger.lease(r.lease as string)!.workload).toEqual({ app: 'demo' });
    const old = t.tx(alice, 'lease.open', appLease(0, { app: 'demo', version: '1.0.0', env: { A: '1' } }));
    expect(t.ledger.lease(old.lease as string)!.workload).toEqual({
      app: 'demo',
      version: '1.0.0',
      env: { A: '1' },
    });
    expect(t.ledger.container(host.address)!.gpusLeased).toBe(2);
    conserved(t);
  });

  it('an unknown app or version is NOT_FOUND; nothing is locked', () => {
    const t = net();
    const esc = escrow(t, alice.address);
    expect(t.expectRejectTx(alice, 'lease.open', appLease(2, { app: 'nope' }), 'NOT_FOUND').message).toBe(
      'no app "nope" is published',
    );
    expect(
      t.expectRejectTx(alice, 'lease.open', appLease(2, { app: 'demo', version: '3.0.0' }), 'NOT_FOUND')
        .message,
    ).toBe('app demo has no version 3.0.0; published: 1.0.0, 2.0.0');
    expect(escrow(t, alice.address)).toBe(esc);
    expect(t.ledger.container(host.address)!.gpusLeased).toBe(0);
  });

  it('asking fewer GPUs than the app needs is rejected; more than are free is CAPACITY_EXHAUSTED', () => {
    const t = net(3);
    const e = t.expectRejectTx(alice, 'lease.open', appLease(1, { app: 'demo' }), 'INVALID_TRANSACTION');
    expect(e.message).toBe('app demo 2.0.0 needs 2 GPUs, the lease asks for 1');
    // the version asked decides: 1.0.0 runs on a CPU
    t.tx(alice, 'lease.open', appLease(0, { app: 'demo', version: '1.0.0' }));
    t.tx(alice, 'lease.open', appLease(2, { app: 'demo' }));
    t.expectRejectTx(alice, 'lease.open', appLease(2, { app: 'demo' }), 'CAPACITY_EXHAUSTED');
  });

  it('a workload names exactly one of command and app; a version goes with an app', () => {
    const t = net();
    const bad = (workload: Record<string, unknown>, message: RegExp) =>
      expect(
        t.expectRejectTx(alice, 'lease.open', appLease(2, workload), 'INVALID_TRANSACTION').message,
      ).toMatch(message);
    bad({ app: 'demo', command: ['true'] }, /workload: give exactly one of command or app/);
    bad({}, /workload: give exactly one of command or app/);
    bad({ command: ['true'], version: '1.0.0' }, /workload\.version: a version goes with an app/);
    bad({ app: 'Demo!' }, /workload\.app: must be 2 to 41 characters/);
  });

  it('closing an app lease settles and refunds like any other', () => {
    const t = net();
    const esc = escrow(t, alice.address);
    const r = t.tx(alice, 'lease.open', appLease(2, { app: 'demo' }));
    t.tx(host, 'lease.close', { lease: r.lease, reason: 'app demo is not installed on this container' });
    const l = t.ledger.lease(r.lease as string)!;
    expect(l.status).toBe('closed');
    expect(l.charged).toBe(0n);
    expect(escrow(t, alice.address)).toBe(esc);
    expect(t.ledger.container(host.address)!.gpusLeased).toBe(0);
    conserved(t);
  });
});
