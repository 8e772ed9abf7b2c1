import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../../src/sdk/index.js';
import { BIN, ROOT, cli, startDevnet, tempHome, waitFor, type DevnetProcess } from '../../e2e/helpers.js';

// A machine that serves its leases in containers: `aethir container start --runtime docker`
// against a real engine (Podman's Docker-compatible API here; scripts/podman-setup.sh).
const SOCKET = process.env.AETHIR_DOCKER_SOCKET ?? '/tmp/podman.sock';
const IMAGE = process.env.AETHIR_TEST_IMAGE ?? 'localhost/aethir-busybox:test';

describe('a container agent on the Docker runtime', () => {
  const home = tempHome('aethir-agent-docker-');
  const env = { AETHIR_HOME: home };
  let devnet: DevnetProcess;
  let host: ChildProcess | null = null;
  let hostErr = '';

  beforeAll(async () => {
    devnet = await startDevnet(['--demo-containers', '0'], env);
  });
  afterAll(async () => {
    host?.kill('SIGTERM');
    await devnet?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it('runs a rented workload inside a container of the engine, and closes it', async () => {
    const run = (args: string[]) => cli(args, { ...env, AETHIR_API: devnet.url });
    const data = join(home, 'docker-host');
    const start = ['container', 'start', '--network', devnet.url, '--location', 'Tokyo, JP', '--data', data];
    const probe = await run([...start, '--json']);
    const address = JSON.parse(probe.stdout).error.details.address as string;
    expect((await run(['transfer', address, '200'])).code).toBe(0);
    host = spawn(
      process.execPath,
      [
        BIN,
        ...start,
        '--runtime',
        'docker',
        '--docker-socket',
        SOCKET,
        '--image',
        IMAGE,
        '--name',
        'docker-host',
      ],
      { cwd: ROOT, env: { ...process.env, ...env } },
    );
    host.stderr!.on('data', (d) => (hostErr += d));
    const api = new ApiClient(devnet.url);
    await waitFor(
      async () => (await api.container(address))?.status === 'online',
      60_000,
      `online (${hostErr})`,
    );
    const r = await run([
      'rent',
      '--near',
      'Tokyo, JP',
      '--max-latency',
      '30',
      '--',
      'sh',
      '-c',
      'echo in $(cat /etc/hostname): $AETHIR_LEASE_ID',
    ]);
    expect(r.code, r.stderr + hostErr).toBe(0);
    expect(r.stderr).toContain('docker-host');
    // The hostname inside is the engine's container id, not this machine's.
    expect(r.stdout).toMatch(/^in [0-9a-f]{12}: L[0-9a-f]+$/m);
  });
});
