/**
 * What the e2e files with a Docker host share: a registry on loopback (Debian's docker-registry)
 * with test images pushed into it by Podman, and a container joined over HTTP that runs its
 * workloads on Podman's Docker API (`--runtime docker`), funded and online.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { ApiClient } from '../../src/sdk/index.js';
import { exclusive } from '../support/exclusive.js';
import { BIN, ROOT, waitFor, type CliResult } from './helpers.js';

export const DOCKER_SOCKET = process.env.AETHIR_DOCKER_SOCKET ?? '/tmp/podman.sock';
export const BASE_IMAGE = process.env.AETHIR_TEST_IMAGE ?? 'localhost/aethir-busybox:test';
/**
 * The loopback registry Podman may use over plain HTTP (scripts/podman-setup.sh; the engine reads
 * that when it starts). Files using it hold the `registry` test lock from start to stop, so two never
 * use it at once; where another run's registry already answers there, images are pushed into that one.
 */
export const REGISTRY = '127.0.0.1:5055';

/**
 * Starts the registry (unless one answers already) and pushes BASE_IMAGE into it as each of
 * `images`; with `pullBack` each is then pulled into the engine from the registry (so a registry
 * that goes away later costs nothing). Resolves with a stop for the registry it started, which
 * also frees the `registry` lock taken first.
 */
export async function loopbackRegistry(
  home: string,
  images: string[],
  opts: { pullBack?: boolean } = {},
): Promise<{ stop(): void }> {
  const release = await exclusive('registry');
  const dir = join(home, 'registry');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'config.yml'),
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: ${REGISTRY}\n`,
  );
  const answers = async () => (await fetch(`http://${REGISTRY}/v2/`).catch(() => null))?.ok === true;
  let registry: ChildProcess | null = null;
  if (!(await answers()))
    registry = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  await waitFor(answers, 20_000, 'registry');
  // Podman pulls from the loopback registry over plain HTTP (scripts/podman-setup.sh does this too)
  const conf = '/etc/containers/registries.conf.d/aethir-test-registry.conf';
  if (!existsSync(conf)) {
    mkdirSync('/etc/containers/registries.conf.d', { recursive: true });
    writeFileSync(conf, `[[registry]]\nlocation = "${REGISTRY}"\ninsecure = true\n`);
  }
  for (const image of images)
    for (const args of [
      ['tag', BASE_IMAGE, image],
      ['push', '-q', '--tls-verify=false', image],
      ['rmi', image],
      ...(opts.pullBack ? [['pull', '-q', '--tls-verify=false', image]] : []),
    ]) {
      const r = spawnSync('podman', args, { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`podman ${args.join(' ')}: ${r.stderr}`);
    }
  return {
    stop: () => {
      registry?.kill();
      release();
    },
  };
}

/**
 * `aethir container start --runtime docker` joined to the devnet at `url` from `dataDir`, funded
 * from the devnet's faucet key and online; `extraArgs` go to `container start` (e.g. `--volumes 1`).
 * `stop()` sends SIGINT (the host ends its workloads) and SIGKILL if it has not exited within 15 s.
 */
export async function startDockerHost(o: {
  url: string;
  dataDir: string;
  name: string;
  env: Record<string, string>;
  api: ApiClient;
  run: (args: string[]) => Promise<CliResult>;
  extraArgs?: string[];
}): Promise<{ address: string; stop(): Promise<void> }> {
  const args = ['container', 'start', '--network', o.url, '--location', 'Tokyo, JP', '--data', o.dataDir];
  const docker = [
    '--runtime',
    'docker',
    '--docker-socket',
    DOCKER_SOCKET,
    '--image',
    BASE_IMAGE,
    '--name',
    o.name,
    ...(o.extraArgs ?? []),
  ];
  const unfunded = await o.run([...args, ...docker, '--json']);
  const address = JSON.parse(unfunded.stdout).error.details.address as string;
  expect((await o.run(['transfer', address, '500'])).code).toBe(0);
  const child = spawn(process.execPath, [BIN, ...args, ...docker, '--heartbeat', '2'], {
    cwd: ROOT,
    env: { ...process.env, ...o.env },
    stdio: 'ignore',
  });
  await waitFor(
    async () => (await o.api.container(address))?.status === 'online',
    60_000,
    'docker host online',
  );
  return {
    address,
    stop: async () => {
      const exited = child.exitCode === null ? new Promise((r) => child.once('exit', r)) : null;
      child.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
      child.kill('SIGKILL');
    },
  };
}

/** Removes what is left of `image` (a host killed mid-way): its containers only, then the image. */
export function removeImage(image: string): void {
  const left = spawnSync('podman', ['ps', '-aq', '--filter', `ancestor=${image}`], { encoding: 'utf8' });
  for (const id of left.stdout.split('\n').filter(Boolean))
    spawnSync('podman', ['rm', '-f', id], { stdio: 'ignore' });
  spawnSync('podman', ['rmi', image], { stdio: 'ignore' });
}

/** A TCP port free on every address now (for a devnet or an endpoint proxy started next). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '0.0.0.0', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
