import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AethirError, ath, generateKeyPair } from '../../src/core/index.js';
import { Keystore } from '../../src/node/keystore.js';
import type { RunningNode } from '../../src/node/index.js';
import {
  ApiClient,
  DeploymentStore,
  closeDeployment,
  deployPlan,
  planSdl,
  type DeploymentPlan,
  type ServicePlan,
} from '../../src/sdk/index.js';
import { cli, startInProcessDevnet, tempHome } from './helpers.js';

const SHARED = fileURLToPath(new URL('../../../shared/data/akash-sdl/', import.meta.url));

/** Two CPU services: web × 2 (one public port) and a worker. Its commands listen on the lease's port. */
const SDL = `version: "2.0"
services:
  web:
    image: aethir/host-process-test
    command: ["node", "-e"]
    args: ["require('http').createServer((q, s) => s.end('hello from ' + process.env.ROLE)).listen(process.env.AETHIR_PORT)"]
    env:
      - ROLE=web
    expose:
      - port: 8080
        as: 80
        to:
          - global: true
  worker:
    image: aethir/host-process-test
    command: ["node", "-e", "setInterval(() => {}, 1000)"]
profiles:
  compute:
    small:
      resources:
        cpu:
          units: 500m
        memory:
          size: 256Mi
        storage:
          size: 1Gi
  placement:
    dc:
      pricing:
        small:
          denom: uakt
          amount: 1000
deployment:
  web:
    dc:
      profile: small
      count: 2
  worker:
    dc:
      profile: small
      count: 1
`;

/** The host-process runtime runs a planned service's command and args (the SDK path; the CLI runs images). */
const hostProcess = (s: ServicePlan) => ({
  command: [...(s.command ?? []), ...(s.args ?? [])],
  ...(s.endpoint ? { publicEndpoint: true } : {}),
});

/**
 * `aethir deploy` against one devnet: the dry run on every shared SDL through the CLI, a real
 * deploy of images with no Docker host to run them (nothing moved), and the SDK's deploy of a two-service
 * SDL whose leases run commands on the host-process runtime: endpoints answer, `deployments
 * ls|status|close` through the CLI, refunds shown; a deploy that fails half-way is rolled back.
 */
describe('deploy an Akash SDL', () => {
  let node: RunningNode;
  const home = tempHome('aethir-deploy-');
  let env: Record<string, string>;
  let api: ApiClient;
  const sdlFile = join(home, 'two-services.yaml');

  beforeAll(async () => {
    node = await startInProcessDevnet(home, { demoContainers: 2 });
    env = { AETHIR_HOME: home, AETHIR_API: node.url };
    api = new ApiClient(node.url);
    writeFileSync(sdlFile, SDL);
  }, 60_000);
  afterAll(async () => {
    await node?.stop();
  });
  /**
   * The SDK's deploy with the developer key into $AETHIR_HOME/deployments. Leases of 10 minutes:
   * a detached lease's pre-authorization is settled at once only beyond the receipt grace (3 min).
   */
  const deploy = (name: string, plan: DeploymentPlan, workloadFor = hostProcess, maxDurationSec = 600) =>
    deployPlan({
      api,
      key: new Keystore(join(home, 'keys')).load('developer'),
      plan,
      store: new DeploymentStore(join(home, 'deployments')),
      name,
      source: { file: sdlFile, sha256: 'x' },
      maxDurationSec,
      workloadFor,
    });

  // Every shared SDL is planned or refused by exact path in test/unit/sdk/sdl.test.ts (the same
  // planSdl the CLI calls); here the CLI itself, on one SDL it plans and one it refuses.
  it.skipIf(!existsSync(SHARED))(
    'deploy --dry-run --json through the CLI: a shared SDL that plans, one that names its paths',
    async () => {
      const [sd, ray] = await Promise.all(
        ['stable-diffusion-ui__deploy.yaml', 'ray__deploy.yaml'].map((f) =>
          cli(['deploy', '--dry-run', '--json', '--act-rate', '2', join(SHARED, f)], env),
        ),
      );
      expect(sd!.code, sd!.stderr).toBe(0);
      const out = JSON.parse(sd!.stdout);
      expect(out).toMatchObject({ dryRun: true, name: 'stable-diffusion-ui-deploy' });
      expect(out.plan).toMatchObject({ leases: 1, blockTimeMs: 6100 });
      expect(out.plan.services[0]).toMatchObject({
        service: 'stable-diffusion-ui',
        cpu: { millicores: 16_000 },
        memoryBytes: String(32 * 2 ** 30),
        endpoint: { port: 9000, as: 80 },
        gpu: { units: 1, choices: [{ models: ['4090'], akashModels: ['rtx4090'], minVramMiB: null }] },
        pricing: { denom: 'uact', amount: '100000', maxPricePerHour: '118032786885245901639', source: 'sdl' },
      });
      expect(ray!.code).toBe(1);
      const err = JSON.parse(ray!.stdout).error;
      expect(err.code).toBe('INVALID_ARGUMENT');
      // its links to ray-worker plan (the port for ray-worker only); the rest is refused
      expect(err.details.issues).toHaveLength(6);
      for (const issue of err.details.issues)
        expect(err.message).toContain(`  ${issue.path}: ${issue.message}`);
      expect(err.message).toContain(
        'services.ray-head.expose[2].to[0].service: no service named "ray-worker,"',
      );
    },
  );

  it('a real deploy of an SDL through the CLI needs Docker hosts for its images: none here, so nothing moves', async () => {
    const user = new Keystore(join(home, 'keys')).load('developer').address;
    const before = await api.account(user);
    const [human, noRate, list] = await Promise.all([
      cli(['deploy', sdlFile, '--akt-rate', '100'], env),
      cli(['deploy', sdlFile], env),
      cli(['deployments', 'ls', '--json'], env),
    ]);
    expect(human.code).toBe(1);
    // (an image deploy on a Docker host that comes up: test/e2e/lease-port.test.ts)
    expect(human.stderr).toMatch(
      /error \[NO_MATCH\]: web\[0\]: no container matches \(.*ruled out: 3 no Docker engine\); nothing was opened/,
    );
    // a price cap is needed before anything else
    expect(noRate.code).toBe(1);
    expect(noRate.stderr).toContain(
      'no price cap for web (uakt), worker (uakt): give --akt-rate ATH or --max-price; nothing was opened',
    );
    // the user signed nothing (nonce), paid nothing and locked nothing; the devnet's own checks and
    // epochs may add blocks meanwhile, so the ledger's root is not the measure
    const after = await api.account(user);
    expect([after.nonce, after.balance, after.escrow]).toEqual([before.nonce, before.balance, before.escrow]);
    expect((await api.leases({ user })).length).toBe(0);
    expect(JSON.parse(list.stdout).deployments).toEqual([]);
  });

  it('the SDK brings the SDL up as three detached leases with a working public endpoint; deployments ls|status|close through the CLI', async () => {
    const store = new DeploymentStore(join(home, 'deployments'));
    const plan = planSdl(SDL, { maxPricePerHour: ath(1000) });
    const record = await deploy('shop', plan);
    expect(record.leases.map((l) => `${l.service}[${l.index}]`)).toEqual(['web[0]', 'web[1]', 'worker[0]']);
    for (const l of record.leases) {
      const v = await api.leaseView(l.lease);
      expect(v?.status).toBe('open');
      expect(v?.gpus).toBe(0);
      // env names on the ledger, never values
      expect(v?.workload.envNames ?? []).toEqual(l.service === 'web' ? ['ROLE'] : []);
      // detached: paid ahead for its whole maximum duration by one pre-authorizing receipt
      expect(v?.lastReceiptSeq).toBe(1);
      expect(v?.receiptServedMs).toBe(600_000);
    }

    const [statusRun, lsRun] = await Promise.all([
      cli(['deployments', 'status', 'shop', '--json'], env),
      cli(['deployments', 'ls', '--json'], env),
    ]);
    const status = JSON.parse(statusRun.stdout).deployment;
    expect(status.leases.map((l: any) => l.status)).toEqual(['open', 'open', 'open']);
    const web = status.leases.filter((l: any) => l.service === 'web');
    for (const l of web) {
      expect(l.endpoint).toMatch(/^http/);
      // the workload may take a moment to listen
      let body = '';
      for (let i = 0; i < 100 && body !== 'hello from web'; i++) {
        body = await fetch(l.endpoint)
          .then((r) => r.text())
          .catch(() => '');
        if (body !== 'hello from web') await new Promise((r) => setTimeout(r, 100));
      }
      expect(body).toBe('hello from web');
    }
    expect(JSON.parse(lsRun.stdout).deployments).toMatchObject([
      { name: 'shop', leases: 3, open: 3, state: 'active' },
    ]);

    // while it is active, its name is taken
    await expect(deploy('shop', plan)).rejects.toThrow(
      'a deployment named shop is active (aethir deployments close shop, or give --name)',
    );
    const closed = JSON.parse((await cli(['deployments', 'close', 'shop', '--json'], env)).stdout);
    expect(closed.leases.map((l: any) => l.status)).toEqual(['closed', 'closed', 'closed']);
    let charged = 0n;
    for (const l of closed.leases) {
      const v = (await api.leaseView(l.lease))!;
      expect(l.charged).toBe(v.charged);
      expect(BigInt(l.charged) + BigInt(l.refunded)).toBe(BigInt(v.escrow));
      charged += BigInt(l.charged);
    }
    expect(closed.charged).toBe(charged.toString());
    expect(BigInt(closed.refunded)).toBeGreaterThan(0n);
    expect(store.get('shop').closedAt).not.toBeNull();
    // the record holds lease ids, never env values
    expect(JSON.stringify(store.get('shop'))).not.toContain('ROLE=');
  });

  it('a deploy that fails half-way closes what it opened; one that cannot match opens nothing', async () => {
    const key = new Keystore(join(home, 'keys')).load('developer');
    const store = new DeploymentStore(join(home, 'deployments'));
    const plan = planSdl(SDL, { maxPricePerHour: ath(1000) });
    // the worker's workload is one the ledger refuses (over 1000 arguments): the two web leases were opened first
    const broken = (s: ServicePlan) =>
      s.service === 'worker' ? { command: Array.from({ length: 1001 }, () => 'x') } : hostProcess(s);
    const err = await deploy('half', plan, broken).catch((e: unknown) => e as AethirError);
    expect(err).toBeInstanceOf(AethirError);
    expect((err as AethirError).message).toMatch(/^worker\[0\]: .*; the 2 leases opened were closed$/);
    const rec = store.get('half');
    expect(rec.closedAt).not.toBeNull();
    // only the key that paid may close a deployment
    await expect(closeDeployment(api, generateKeyPair(), rec, store)).rejects.toThrow(
      `deployment half was paid by ${key.address}; close it with that key (--key)`,
    );
    // leases too short to be paid ahead open nothing
    await expect(deploy('short', plan, hostProcess, 180)).rejects.toThrow(
      "a deployment's leases run detached, so each must be allowed longer than the receipt grace (180 s); give a longer --max-duration; nothing was opened",
    );
    // a plan without caps opens nothing
    await expect(deploy('nocap', planSdl(SDL))).rejects.toThrow(
      'no price cap for web, worker (plan with a rate or a max price); nothing was opened',
    );
    expect(rec.leases).toHaveLength(2);
    for (const l of rec.leases) expect((await api.leaseView(l.lease))?.status).toBe('closed');

    const user = key.address;
    const open = (await api.leases({ user, status: 'open' })).length;
    const nowhere = planSdl(
      SDL.replace('    dc:\n      pricing', '    dc:\n      attributes:\n        region: sa\n      pricing'),
      {
        maxPricePerHour: ath(1000),
      },
    );
    // (a closed deployment's name is free again: 'half' gets as far as the match)
    await expect(deploy('half', nowhere)).rejects.toThrow(/^web\[0\]: no container matches/);
    await expect(deploy('nowhere', nowhere)).rejects.toThrow(
      /^web\[0\]: no container matches \(.*\); nothing was opened$/,
    );
    // the profile's memory is part of the match: no host here registers 64 TiB
    await expect(
      deploy('huge', planSdl(SDL.replace('size: 256Mi', 'size: 64Ti'), { maxPricePerHour: ath(1000) })),
    ).rejects.toThrow(
      /^web\[0\]: no container matches \(no container matches: of 3, ruled out: 3 cpu or memory\); nothing was opened$/,
    );
    expect((await api.leases({ user, status: 'open' })).length).toBe(open);
    expect(store.has('nowhere')).toBe(false);
    expect(store.has('huge')).toBe(false);
  });
});
