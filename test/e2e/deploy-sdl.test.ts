/**
 * A two-service Akash SDL brought up for real through the CLI (`aethir deploy`) on one devnet and
 * one Docker host (Podman's Docker API) that offers persistent volumes: a web service (public
 * endpoint) that reads from a kv service it reaches through the kv's own lease endpoint (its
 * `expose … to: [{service: web}]` port; the URL and a lease token come in web's env), the kv's
 * data on a persistent volume that outlives a close and is mounted again by the next deploy, and
 * `deployments close --delete-volumes` ending everything, with nothing left in Podman. Images come
 * from a real registry on loopback (the shared fixture; not at the same time as the other files
 * using 127.0.0.1:5055). The Docker host's endpoint proxy is announced on this machine's own
 * address, so a workload in a container reaches another lease's endpoint as a user would.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keystore } from '../../src/node/index.js';
import { ApiClient, deploymentVolumeName } from '../../src/sdk/index.js';
import { cli, startDevnet, tempHome, waitFor, type DevnetProcess } from './helpers.js';
import { REGISTRY, freePort, loopbackRegistry, removeImage, startDockerHost } from './docker-host.js';

const KV_IMAGE = `${REGISTRY}/aethir/sdl-kv:test`;
const WEB_IMAGE = `${REGISTRY}/aethir/sdl-web:test`;
/** this machine's address that containers on Podman's bridge networks reach */
const HOST_IP = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

/** kv: counts its starts on its volume and serves the count; web: fetches it from kv every second. */
const sdl = (o: { kvSize?: string; webEnv?: string } = {}) => `version: "2.0"
services:
  web:
    image: ${WEB_IMAGE}
    command: ["sh", "-c"]
    args:
      - >-
        mkdir -p www; echo web-up > www/index.html;
        (while true; do wget -q -O www/kv.tmp --header "x-aethir-lease-token: $KV_SERVICE_TOKEN" "$KV_SERVICE_URL"boots && mv www/kv.tmp www/kv.txt; sleep 1; done) &
        exec httpd -f -p 8080 -h www
${o.webEnv ?? ''}    expose:
      - port: 8080
        as: 80
        to:
          - global: true
  kv:
    image: ${KV_IMAGE}
    command: ["sh", "-c"]
    args:
      - >-
        n=$(( $(cat /data/boots 2>/dev/null || echo 0) + 1 )) && echo $n > /data/boots &&
        mkdir -p www && cp /data/boots www/boots && exec httpd -f -p 6379 -h www
    expose:
      - port: 6379
        to:
          - service: web
    params:
      storage:
        data:
          mount: /data
profiles:
  compute:
    web:
      resources:
        cpu:
          units: 0.5
        memory:
          size: 128Mi
        storage:
          size: 256Mi
    kv:
      resources:
        cpu:
          units: 0.5
        memory:
          size: 128Mi
        storage:
          - size: 256Mi
          - name: data
            size: ${o.kvSize ?? '64Mi'}
            attributes:
              persistent: true
              class: beta2
  placement:
    dc:
      pricing:
        web:
          denom: uakt
          amount: 1000
        kv:
          denom: uakt
          amount: 1000
deployment:
  web:
    dc:
      profile: web
      count: 1
  kv:
    dc:
      profile: kv
      count: 1
`;

interface LeaseRow {
  service: string;
  lease: string;
  endpoint: string | null;
  status: string;
  reason: string | null;
  volumes?: Array<{ volume: string; volumeName: string; created: boolean; mount: string }>;
}

describe.skipIf(!HOST_IP)(
  'a two-service SDL on a Docker host: endpoints, service to service, a persistent volume',
  () => {
    const home = tempHome('aethir-sdl-');
    const env = { AETHIR_HOME: home };
    let devnet: DevnetProcess | null = null;
    let dockerHost: { stop(): Promise<void> } | null = null;
    let registry: { stop(): void } | null = null;
    let api: ApiClient;
    const file = join(home, 'shop.yaml');
    const run = (args: string[], timeoutMs = 120_000) =>
      cli(args, { ...env, AETHIR_API: devnet!.url }, { timeoutMs });
    const get = async (u: string, headers: Record<string, string> = {}) => {
      const res = await fetch(u, { headers }).catch((e: Error) => ({
        status: 0,
        text: async () => e.message,
      }));
      return { status: res.status, text: await res.text() };
    };
    const status = async (): Promise<LeaseRow[]> => {
      const r = await run(['deployments', 'status', 'shop', '--json']);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout).deployment.leases;
    };
    /** what web has last read from kv, through web's public endpoint */
    const kvSeenByWeb = async (web: LeaseRow, want: string) =>
      waitFor(
        async () => {
          const g = await get(`${web.endpoint!}kv.txt`);
          return g.status === 200 && g.text.trim() === want ? g.text.trim() : undefined;
        },
        90_000,
        `web reading ${want} from kv`,
      );
    const podmanLeft = (lease: string) =>
      spawnSync('podman', ['ps', '-aq', '--filter', `label=aethir.lease=${lease}`], {
        encoding: 'utf8',
      }).stdout.trim() +
      spawnSync('podman', ['network', 'ls', '-q', '--filter', `name=aethir-${lease}`], {
        encoding: 'utf8',
      }).stdout.trim();

    beforeAll(async () => {
      // pulled back into the engine (pull policy 'missing'), so the registry and its lock go at once
      registry = await loopbackRegistry(home, [KV_IMAGE, WEB_IMAGE], { pullBack: true });
      registry.stop();
      devnet = await startDevnet(['--demo-containers', '0', '--location', 'Frankfurt, DE'], env);
      api = new ApiClient(devnet.url);
      const endpointPort = await freePort();
      dockerHost = await startDockerHost({
        url: devnet.url,
        dataDir: join(home, 'dock'),
        name: 'dock-sdl',
        env,
        api,
        run: (a) => run(a),
        extraArgs: [
          '--volumes',
          '1',
          '--endpoint-port',
          String(endpointPort),
          '--public-url',
          `http://${HOST_IP}:${endpointPort}`,
        ],
      });
      writeFileSync(file, sdl());
    }, 240_000);

    afterAll(async () => {
      // the Docker host ends its workloads (and unmounts its volumes) on SIGINT
      await dockerHost?.stop();
      await devnet?.stop();
      registry?.stop();
      removeImage(KV_IMAGE);
      removeImage(WEB_IMAGE);
    });

    it('the dry run shows the volume, the kv port for web only, and the order: kv opens first', async () => {
      const r = await run(['deploy', '--dry-run', file, '--akt-rate', '100', '--name', 'shop', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const plan = JSON.parse(r.stdout).plan;
      expect(plan.services.map((s: { service: string }) => s.service)).toEqual(['kv', 'web']);
      expect(plan.services[0]).toMatchObject({
        endpoint: { port: 6379, public: false },
        volumes: [{ name: 'data', mount: '/data', kind: 'persistent', sizeMiB: 64, class: 'beta2' }],
      });
      expect(plan.services[1].links).toEqual([
        { service: 'kv', port: 6379, urlEnv: 'KV_SERVICE_URL', tokenEnv: 'KV_SERVICE_TOKEN' },
      ]);
      const text = await run(['deploy', '--dry-run', file, '--akt-rate', '100']);
      expect(text.stdout).toContain('volume     data at /data: persistent, 0.06 GiB (class beta2)');
      expect(text.stdout).toContain('reaches    kv (port 6379) at $KV_SERVICE_URL');
      expect((await api.leases({})).length).toBe(0);
    });

    it('refused before anything opens: a volume bigger than any host offers; one that fits only a host that cannot run the image rolls back', async () => {
      const big = join(home, 'big.yaml');
      writeFileSync(big, sdl({ kvSize: '100Gi' }));
      const r = await run(['deploy', big, '--akt-rate', '100', '--name', 'big']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(
        /services\.kv: no serving host offers 102400 MiB of volume space .*nothing was opened/,
      );
      // 2 GiB: this devnet's own container has room, the Docker host (1 GiB) has not, and only it runs images
      writeFileSync(big, sdl({ kvSize: '2Gi' }));
      const r2 = await run(['deploy', big, '--akt-rate', '100', '--name', 'big']);
      expect(r2.code).not.toBe(0);
      expect(r2.stderr).toMatch(/kv\[0\]: .*dock-sdl has room for 1024 MiB of volumes, 2048 MiB asked/);
      // an env name that the link sets is the SDL's mistake, named by path
      writeFileSync(big, sdl({ webEnv: '    env:\n      - KV_SERVICE_URL=http://kv:6379\n' }));
      const r3 = await run(['deploy', big, '--akt-rate', '100', '--name', 'big']);
      expect(r3.stderr).toContain('services.web.env[0]: KV_SERVICE_URL is set by Aethir');
      expect((await api.leases({})).length).toBe(0);
      expect(await api.volumeViews({ status: 'active' })).toEqual([]);
    });

    let volumeId = '';
    /** a stranger's volume, under the very name this deployment gives its kv volume */
    let theirs = '';
    const ourName = deploymentVolumeName('shop', 'kv', 0, 'data');

    it("another user's volume under the name this deployment will use is theirs: never looked up, mounted or deleted", async () => {
      const stranger = JSON.parse((await cli(['keys', 'new', 'stranger', '--json'], env)).stdout) as {
        address: string;
      };
      expect((await run(['transfer', stranger.address, '50'])).code).toBe(0);
      const made = await run(['volume', 'create', ourName, '--size', '64M', '--key', 'stranger', '--json']);
      expect(made.code, made.stderr).toBe(0);
      theirs = JSON.parse(made.stdout).volume.id as string;
    });

    it('deploy: both services up, web reads kv through its endpoint, kv is closed to strangers, its volume on the host', async () => {
      const r = await run(['deploy', file, '--akt-rate', '100', '--name', 'shop', '--max-duration', '10m']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/kv\[0\]: volume shop-kv-0-data-[0-9a-f]{12} \(V/);
      const leases = await status();
      expect(leases.map((l) => [l.service, l.status])).toEqual([
        ['kv', 'open'],
        ['web', 'open'],
      ]);
      const [kv, web] = leases as [LeaseRow, LeaseRow];
      expect(kv.volumes).toMatchObject([{ mount: '/data', created: true, volumeName: ourName }]);
      volumeId = kv.volumes![0]!.volume;
      // ours, not the stranger's of the same name
      expect(volumeId).not.toBe(theirs);
      const me = new Keystore(join(home, 'keys')).load('developer').address;
      expect((await api.volumeView(volumeId))?.owner).toBe(me);
      // web's public endpoint, and what it read from kv (kv's first start)
      const page = await waitFor(
        async () => {
          const g = await get(web.endpoint!);
          return g.status === 200 ? g : undefined;
        },
        90_000,
        "web's endpoint",
      );
      expect(page.text).toBe('web-up\n');
      expect(await kvSeenByWeb(web, '1')).toBe('1');
      // kv's endpoint is not public: no token, no data; the token web holds is for kv's endpoint only
      expect((await get(`${kv.endpoint!}boots`)).status).toBe(401);
      const v = await api.volumeView(volumeId);
      expect(v).toMatchObject({ status: 'active', sizeMiB: 64, name: kv.volumes![0]!.volumeName });
      // web's lease carries the link sealed: names on the ledger, no values
      const view = await api.leaseView(web.lease);
      expect(JSON.stringify(view)).not.toMatch(/KV_SERVICE_TOKEN=|eyJ/);
    });

    it('close keeps the volume; the next deploy mounts it again (kv counts its second start); close --delete-volumes ends everything, nothing left in Podman', async () => {
      const first = await status();
      const closed = await run(['deployments', 'close', 'shop']);
      expect(closed.code, closed.stderr).toBe(0);
      expect(closed.stdout).toMatch(
        /kept 1 persistent volume \(shop-kv-0-data-[0-9a-f]{12}\): billed until deleted/,
      );
      expect((await api.volumeView(volumeId))?.status).toBe('active');
      for (const l of first)
        await waitFor(async () => podmanLeft(l.lease) === '', 30_000, `podman leftovers of ${l.lease}`);

      const again = await run([
        'deploy',
        file,
        '--akt-rate',
        '100',
        '--name',
        'shop',
        '--max-duration',
        '10m',
      ]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).toMatch(
        /kv\[0\]: mounts volume shop-kv-0-data-[0-9a-f]{12} \(V[^)]*\) from an earlier deploy at \/data/,
      );
      const leases = await status();
      const [kv, web] = leases as [LeaseRow, LeaseRow];
      expect(kv.volumes).toMatchObject([{ volume: volumeId, created: false }]);
      expect(await kvSeenByWeb(web, '2')).toBe('2');

      const end = await run(['deployments', 'close', 'shop', '--delete-volumes', '--json']);
      expect(end.code, end.stderr).toBe(0);
      const out = JSON.parse(end.stdout);
      expect(out.leases.map((l: { status: string }) => l.status)).toEqual(['closed', 'closed']);
      expect(out.volumes).toMatchObject([{ volume: volumeId, status: 'deleted' }]);
      expect((await api.volumeView(volumeId))?.status).toBe('deleted');
      expect((await api.volumeView(theirs))?.status).toBe('active');
      for (const l of leases)
        await waitFor(async () => podmanLeft(l.lease) === '', 30_000, `podman leftovers of ${l.lease}`);
      const ls = JSON.parse((await run(['deployments', 'ls', '--json'])).stdout).deployments;
      expect(ls).toMatchObject([{ name: 'shop', state: 'closed', open: 0 }]);
    });

    it("a tampered record cannot delete another user's volume: only the key's own are touched", async () => {
      // the deployment record edited to claim the stranger's volume
      const recordFile = join(home, 'deployments', 'shop.json');
      const rec = JSON.parse(readFileSync(recordFile, 'utf8'));
      rec.leases[0].volumes[0].volume = theirs;
      writeFileSync(recordFile, JSON.stringify(rec));
      const r = await run(['deployments', 'close', 'shop', '--delete-volumes', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).volumes).toMatchObject([{ volume: theirs, status: 'gone' }]);
      expect((await api.volumeView(theirs))?.status).toBe('active');
      expect((await run(['volume', 'delete', ourName, '--key', 'stranger'])).code).toBe(0);
    });
  },
);
