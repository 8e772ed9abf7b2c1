/**
 * What the Docker-runtime integration suites share: the engine under test, runtimes that clean up
 * after each test, specs with fresh lease ids, and bare Engine API calls to check from the engine's side.
 */
import { request } from 'node:http';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { AethirError } from '../../../src/core/errors.js';
import { DockerRuntime, type DockerRuntimeOptions } from '../../../src/container/runtimes/docker.js';
import type {
  RunningWorkload,
  WorkloadEvent,
  WorkloadSpec,
} from '../../../src/container/runtimes/runtime.js';

// A real engine: Podman's Docker-compatible service in CI (scripts/podman-setup.sh starts it and
// imports the busybox image), or any Docker daemon via AETHIR_DOCKER_SOCKET. Nothing sleeps a fixed
// amount: conditions are polled with generous deadlines.
export const SOCKET = process.env.AETHIR_DOCKER_SOCKET ?? '/tmp/podman.sock';
export const IMAGE = process.env.AETHIR_TEST_IMAGE ?? 'localhost/aethir-busybox:test';
// Labels every container of this run, so concurrent runs on one engine never see each other's.
export const RUN = `r${process.pid}-${Date.now().toString(36)}`;
const SETUP_HINT = 'run scripts/podman-setup.sh (CI does) or set AETHIR_DOCKER_SOCKET to a Docker socket';

const runtimes: DockerRuntime[] = [];
let seq = 0;

export function newRuntime(opts: DockerRuntimeOptions = {}): DockerRuntime {
  const rt = new DockerRuntime({
    socketPath: SOCKET,
    defaultImage: IMAGE,
    pullPolicy: 'never',
    killGraceMs: 1000,
    labels: { 'aethir.test': RUN },
    ...opts,
  });
  runtimes.push(rt);
  return rt;
}

export function leaseId(): string {
  return `${RUN}-${++seq}`;
}

export function spec(command: string[], extra: Partial<WorkloadSpec> = {}): WorkloadSpec {
  return { leaseId: leaseId(), command, gpuIndices: [], ...extra };
}

export async function collect(w: RunningWorkload): Promise<WorkloadEvent[]> {
  const events: WorkloadEvent[] = [];
  for await (const e of w.events()) events.push(e);
  return events;
}

export function text(events: WorkloadEvent[], type: 'stdout' | 'stderr'): string {
  return events.map((e) => (e.type === type ? e.data : '')).join('');
}

/** A bare Engine API call, to check what the runtime did from the engine's side. */
export function engine(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers = payload ? { 'Content-Type': 'application/json' } : {};
    const req = request({ socketPath: SOCKET, method, path, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = body ? JSON.parse(body) : undefined;
        } catch {
          json = body;
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

export async function waitFor(cond: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function waitRunning(w: RunningWorkload & { containerId?: string }): Promise<any> {
  let inspect: any;
  await waitFor(async () => {
    inspect = (await engine('GET', `/containers/${w.containerId}/json`)).json;
    return inspect?.State?.Running === true;
  }, `container of ${w.leaseId} to run`);
  return inspect;
}

export async function rejection(p: Promise<unknown>): Promise<AethirError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(AethirError);
    return err as AethirError;
  }
  throw new Error('expected a rejection');
}

/** Registers the hooks: fail loudly without an engine or image, stop every runtime after each test. */
export function useEngine(): void {
  let engineUp = false;

  beforeAll(async () => {
    // Fail loudly, never skip: a missing engine must not look like a green run.
    try {
      await new DockerRuntime({ socketPath: SOCKET }).ping();
      engineUp = true;
    } catch (err) {
      throw new Error(`no Docker-compatible engine answers on ${SOCKET}: ${SETUP_HINT}\n(${String(err)})`);
    }
    try {
      await newRuntime().ensureImage(IMAGE);
    } catch (err) {
      throw new Error(`test image ${IMAGE} is missing on ${SOCKET}: ${SETUP_HINT}\n(${String(err)})`);
    }
  });

  afterEach(async () => {
    await Promise.all(runtimes.splice(0).map((rt) => rt.stopAll()));
  });

  afterAll(async () => {
    if (!engineUp) return;
    // Whatever a failed test left behind.
    const rt = newRuntime();
    for (const c of await rt.listLeases()) await rt.removeLease(c.leaseId);
  });
}
