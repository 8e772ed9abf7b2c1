import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AethirError } from '../../../src/core/index.js';
import { AppInstaller, LocalApps, parseManifest } from '../../../src/container/apps/index.js';
import type { AppManifest, PublishedApp } from '../../../src/ledger/index.js';
import type { NetworkClient } from '../../../src/sdk/index.js';

let dir: string;
let log: string[];
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'aethir-apps-'));
  log = [];
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An app whose install writes weights.txt and appends a line to `counter` (one line per install run). */
function demo(counter: string, version = '1.0.0', extra: Record<string, unknown> = {}): AppManifest {
  return parseManifest({
    name: 'demo',
    version,
    install: ['echo model-weights > weights.txt', `echo ran >> '${counter}'`],
    run: 'cat "$AETHIR_APP_DIR/weights.txt"',
    ...extra,
  });
}

const lines = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean).length : 0);

describe('AppInstaller', () => {
  it('runs the install steps once, in <base>/<name>/<version>, and finds them ready afterwards', async () => {
    const counter = path.join(dir, 'count');
    const base = path.join(dir, 'apps');
    const m = demo(counter);
    const a = await new AppInstaller({ baseDir: base, log: (l) => log.push(l) }).install(m);
    expect(a).toMatchObject({
      name: 'demo',
      version: '1.0.0',
      dir: path.join(base, 'demo', '1.0.0'),
      service: 'main',
      command: ['sh', '-c', 'cat "$AETHIR_APP_DIR/weights.txt"'],
      gpus: 0,
      ran: true,
    });
    expect(readFileSync(path.join(a.dir, 'weights.txt'), 'utf8')).toBe('model-weights\n');
    expect(existsSync(path.join(a.dir, '.ready'))).toBe(true);
    expect(log.some((l) => /app demo 1\.0\.0: installing/.test(l))).toBe(true);
    // another installer (a restart) on the same directory runs nothing
    const again = await new AppInstaller({ baseDir: base }).install(m);
    expect(again.ran).toBe(false);
    expect(lines(counter)).toBe(1);
  });

  it('prints the steps’ output to the log and gives the app its directory in AETHIR_APP_DIR', async () => {
    const m = parseManifest({
      name: 'echo',
      version: '1.0.0',
      install: 'echo "dir=$AETHIR_APP_DIR home=$HOME app=$AETHIR_APP@$AETHIR_APP_VERSION"; echo oops >&2',
      run: 'true',
    });
    const a = await new AppInstaller({ baseDir: dir, log: (l) => log.push(l) }).install(m);
    expect(log).toContain(`app echo 1.0.0: dir=${a.dir} home=${a.dir} app=echo@1.0.0`);
    expect(log).toContain('app echo 1.0.0: oops');
  });

  it('a failing step fails the install with its number and last output line, and leaves no marker', async () => {
    const counter = path.join(dir, 'count');
    const m = parseManifest({
      name: 'broken',
      version: '1.0.0',
      install: [`echo ran >> '${counter}'`, 'echo "no such package" >&2; exit 3', 'echo never'],
      run: 'true',
    });
    const installer = new AppInstaller({ baseDir: dir });
    const e = await installer.install(m).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AethirError);
    expect((e as AethirError).code).toBe('RUNTIME_FAILED');
    expect((e as Error).message).toBe(
      'install step 2 of 3 (echo "no such package" >&2; exit 3) exited with 3: no such package',
    );
    expect(await installer.isReady(m)).toBe(false);
    // a retry starts afresh and runs the steps again
    await installer.install(m).catch(() => undefined);
    expect(lines(counter)).toBe(2);
  });

  it('kills an install that runs past its time limit', async () => {
    const m = parseManifest({ name: 'slow', version: '1.0.0', install: 'sleep 30', run: 'true' });
    const t0 = Date.now();
    const e = await new AppInstaller({ baseDir: dir, timeoutMs: 300 }).install(m).catch((x: unknown) => x);
    expect((e as AethirError).code).toBe('TIMEOUT');
    expect((e as Error).message).toMatch(/install step 1 of 1 \(sleep 30\): the install ran past its limit/);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('hosts sharing an apps directory (a devnet’s containers) install an app once: the others wait and find it ready', async () => {
    const counter = path.join(dir, 'count');
    // the first step takes a while, so the others start while it runs
    const m = parseManifest({
      name: 'demo',
      version: '1.0.0',
      install: ['sleep 0.5', 'echo model-weights > weights.txt', `echo ran >> '${counter}'`],
      run: 'true',
    });
    const base = path.join(dir, 'apps');
    const installers = [1, 2, 3].map(() => new AppInstaller({ baseDir: base, log: (l) => log.push(l) }));
    const got = await Promise.allSettled(installers.map((i) => i.install(m)));
    expect(got.map((g) => g.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    const apps = got.map((g) => (g as PromiseFulfilledResult<{ ran: boolean; dir: string }>).value);
    expect(apps.map((a) => a.ran)).toEqual([true, false, false]);
    expect(lines(counter)).toBe(1);
    expect(log.filter((l) => /installing in/.test(l))).toHaveLength(1);
    expect(readFileSync(path.join(apps[0]!.dir, 'weights.txt'), 'utf8')).toBe('model-weights\n');
  });

  it('a host that stops while waiting for another host’s install stops at once; the install goes on', async () => {
    const counter = path.join(dir, 'count');
    const m = parseManifest({
      name: 'demo',
      version: '1.0.0',
      install: ['sleep 1.5', `echo ran >> '${counter}'`],
      run: 'true',
    });
    const base = path.join(dir, 'apps');
    const [first, second] = [new AppInstaller({ baseDir: base }), new AppInstaller({ baseDir: base })];
    const settled: string[] = [];
    const running = first.install(m).finally(() => settled.push('the install'));
    const waiting = second
      .install(m)
      .catch((x: unknown) => x)
      .finally(() => settled.push('the waiting host'));
    await new Promise((r) => setTimeout(r, 200));
    await second.stop();
    expect(settled).toEqual(['the waiting host']);
    expect(((await waiting) as AethirError).code).toBe('UNAVAILABLE');
    // a third host coming meanwhile still waits for the install under way
    const third = new AppInstaller({ baseDir: base }).install(m);
    expect((await running).ran).toBe(true);
    expect((await third).ran).toBe(false);
    expect(lines(counter)).toBe(1);
    // stopped, it installs again when asked (and finds the app ready)
    expect((await second.install(m)).ran).toBe(false);
  });
});

/** A network that publishes what the test puts in `apps`. */
function fakeNetwork(apps: Map<string, AppManifest>): NetworkClient {
  const no = () => Promise.reject(new Error('not in this test'));
  return {
    chainId: no,
    params: no,
    requiredStake: no,
    account: no,
    container: no,
    lease: no,
    openLeasesOf: no,
    submit: no,
    app: async (name: string, version?: string): Promise<PublishedApp | undefined> => {
      const m = apps.get(name);
      if (!m || (version && version !== m.version)) return undefined;
      return {
        name,
        version: m.version,
        manifest: m,
        publishedAt: 0,
        owner: 'x',
        latest: m.version,
        versions: [m.version],
      };
    },
  };
}

describe('LocalApps', () => {
  it('installs a wanted app once it is published, reports it ready and resolves sessions of it', async () => {
    const counter = path.join(dir, 'count');
    const published = new Map<string, AppManifest>();
    let changes = 0;
    const apps = new LocalApps({
      wanted: ['demo'],
      baseDir: path.join(dir, 'apps'),
      network: fakeNetwork(published),
      region: 'eu-central',
      log: (l) => log.push(l),
      onChange: () => changes++,
    });
    await apps.sync();
    expect(apps.readyList()).toEqual([]);
    expect(log).toContain('app demo is not published (yet): it is installed once it is');
    expect(apps.resolve({ app: 'demo' }, 0)).toEqual({
      ok: false,
      reason: 'app demo is not installed on this container',
    });

    published.set('demo', demo(counter, '1.0.0', { run: ['cat', '${AETHIR_APP_DIR}/weights.txt'] }));
    await apps.sync();
    await apps.sync();
    expect(lines(counter)).toBe(1);
    expect(changes).toBe(1);
    expect(apps.readyList()).toEqual(['demo', 'demo@1.0.0']);
    const appDir = path.join(dir, 'apps', 'demo', '1.0.0');
    expect(apps.resolve({ app: 'demo', env: { A: '1', AETHIR_APP_DIR: 'no' } }, 0)).toEqual({
      ok: true,
      command: ['cat', `${appDir}/weights.txt`],
      env: { A: '1', AETHIR_APP: 'demo', AETHIR_APP_VERSION: '1.0.0', AETHIR_APP_DIR: appDir },
      // a sandboxed session sees the installed app, read-only, and nothing else of the host
      readOnlyPaths: [appDir],
    });
    expect(apps.resolve({ app: 'demo', version: '2.0.0' }, 0)).toEqual({
      ok: false,
      reason: 'app demo 2.0.0 is not installed on this container (it has 1.0.0)',
    });
    expect(apps.status().ready).toEqual([{ name: 'demo', version: '1.0.0', dir: appDir }]);

    // a new version is installed beside the old one, then served
    published.set('demo', demo(counter, '1.1.0', { gpus: 1 }));
    await apps.sync();
    expect(apps.readyList()).toEqual(['demo', 'demo@1.1.0']);
    expect(lines(counter)).toBe(2);
    expect(apps.resolve({ app: 'demo' }, 0)).toEqual({
      ok: false,
      reason: 'app demo 1.1.0 needs 1 GPUs, the lease has 0',
    });
    await apps.stop();
  });

  it('does not install an app published for other regions, nor retry a failed version', async () => {
    const counter = path.join(dir, 'count');
    const published = new Map<string, AppManifest>([
      ['us-only', parseManifest({ name: 'us-only', version: '1.0.0', run: 'true', regions: ['us'] })],
      [
        'broken',
        parseManifest({
          name: 'broken',
          version: '1.0.0',
          install: `echo ran >> '${counter}'; exit 1`,
          run: 'true',
        }),
      ],
    ]);
    const apps = new LocalApps({
      wanted: ['us-only', 'broken'],
      baseDir: dir,
      network: fakeNetwork(published),
      region: 'eu-central',
      log: (l) => log.push(l),
    });
    await apps.sync();
    await apps.sync();
    expect(apps.readyList()).toEqual([]);
    expect(log).toContain('app us-only is published for us, not eu-central: not installed');
    expect(lines(counter)).toBe(1);
    expect(apps.status().failed).toEqual([
      {
        app: 'broken@1.0.0',
        reason: "install step 1 of 1 (echo ran >> '" + counter + "'; exit 1) exited with 1",
      },
    ]);
    await apps.stop();
  });
});
