import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpuProverCommand } from '../../src/capacity/index.js';
import { BIN, ROOT, cli, startDevnet, tempHome, waitFor, type DevnetProcess } from './helpers.js';

/**
 * `aethir devnet --epoch 10` scales every check cadence with the epoch, so that a container on this
 * CPU-only machine that declares "1x H100 80GB" is caught by the capacity check, slashed and
 * suspended within a minute, and `aethir container status` says why — for the devnet's own
 * container and for one joined over HTTP (its prover reached through the API node's relay).
 *
 * The three parts run side by side (`describe.concurrent`), each its own tests in order
 * (`it.sequential`): most of each is waiting for a check cadence, and the two devnets' waits overlap.
 */

const LIE = '1x H100 80GB';
/**
 * The liar's prover, named rather than left to the default: the built-in CPU prover saying at most
 * 16 GiB free. The default would be the GPU prover on a host with CUDA PyTorch (a real H100 would
 * pass), and a CPU prover on a host with 68 GB free would really allocate them.
 */
const CPU_PROVER = cpuProverCommand(['--max-memory-mib', '16384']).join(' ');

interface Verdict {
  ok: boolean;
  at: number;
  reason: string;
}
interface ContainerView {
  id: string;
  registeredAt: number;
  suspended: boolean;
  suspendedReason?: string;
  slashed: string;
  checks: Partial<Record<'liveness' | 'capacity' | 'location' | 'qos', Verdict>>;
  incidents: Array<{ at: number; check: string; reason: string; slashed: string }>;
}

async function container(url: string, address: string): Promise<ContainerView | undefined> {
  const r = await fetch(`${url}/v1/containers/${address}`).catch(() => null);
  return r?.ok ? ((await r.json()) as ContainerView) : undefined;
}

/** Seconds from the container's registration to the failed capacity verdict, on the ledger's clock. */
function secondsToDetection(c: ContainerView): number {
  return (c.checks.capacity!.at - c.registeredAt) / 1000;
}

/** What `container status --json` must say about a container caught lying about an H100. */
function expectCaught(s: any): void {
  expect(s.suspended).toBe(true);
  expect(s.suspendedReason).toMatch(/^capacity check failed/);
  expect(s.suspendedReason).toContain('H100');
  expect(BigInt(s.stake.slashed)).toBeGreaterThan(0n);
  expect(s.verdicts.capacity).toMatchObject({ ok: false });
  expect(s.verdicts.capacity.reason).toContain('1x H100 80 GB');
  // refused on memory by its CPU prover capped at 16 GiB (CPU_PROVER), whatever this host has free
  expect(s.verdicts.capacity.reason).toMatch(
    /could not hold the claimed memory at once: .*cpu prover: cannot hold 69632 MiB at once: \d+ MiB free on this host/,
  );
  const incident = s.incidents.find((i: { check: string }) => i.check === 'capacity');
  expect(incident).toBeDefined();
  expect(incident.reason).toMatch(/^capacity check failed/);
  expect(BigInt(incident.slashed)).toBeGreaterThan(0n);
  expect(s.reputation.slashes).toBeGreaterThanOrEqual(1);
}

/** The plain-text form: SUSPENDED on the status line, and a `why` line with the reason. */
function expectCaughtText(out: string): void {
  expect(out).toMatch(/^\s*status\s+.*SUSPENDED/m);
  expect(out).toMatch(/^\s*why\s+capacity check failed: .*H100/m);
  expect(out).toMatch(/^\s*incidents\s+.*capacity: capacity check failed/m);
}

describe.concurrent(
  'aethir devnet --epoch 10 --declare-gpus "1x H100 80GB" --prover <the CPU prover, 16 GiB>: its own container is caught',
  () => {
    const home = tempHome('aethir-checkers-own-');
    const env = { AETHIR_HOME: home };
    let devnet: DevnetProcess;
    let upAt = 0;
    let address = '';

    beforeAll(async () => {
      devnet = await startDevnet(
        ['--epoch', '10', '--declare-gpus', LIE, '--prover', CPU_PROVER, '--data', join(home, 'devnet')],
        env,
      );
      upAt = Date.now();
      address = /this machine: \S+ (ath1[0-9a-f]{40})/.exec(devnet.stdout())![1]!;
    });
    afterAll(async () => {
      await devnet?.stop();
    });

    it.sequential(
      'is suspended for the false claim within a minute, and container status says why',
      async () => {
        expect(devnet.stdout()).toMatch(/this machine: .*, 1 GPUs/);
        // Polled cheaply through the API (the CLI is asked once it is caught), with room to spare so
        // that a slow run fails on the assertion below, with the numbers, rather than on a timeout.
        const caught = await waitFor(
          async () => {
            const c = await container(devnet.url, address);
            return c?.suspended ? c : undefined;
          },
          90_000,
          `suspension of ${address} (devnet stderr: ${devnet.stderr()})`,
        );
        const seconds = secondsToDetection(caught);
        const sinceUp = (caught.checks.capacity!.at - upAt) / 1000;
        console.info(
          `[checkers-cli] own container: capacity verdict ${seconds.toFixed(1)} s after registration, ${sinceUp.toFixed(1)} s after the devnet was up`,
        );
        expect(caught.checks.capacity?.ok).toBe(false);
        // The promise: caught within a minute of the devnet being up (ledger time of the verdict).
        expect(sinceUp, `caught ${sinceUp.toFixed(1)} s after the devnet was up`).toBeLessThan(60);

        const args = ['container', 'status', '--network', devnet.url, '--address', address];
        const j = await cli([...args, '--json'], env);
        expect(j.code, j.stderr).toBe(0);
        const s = JSON.parse(j.stdout);
        expect(s.address).toBe(address);
        expect(s.spec).toMatchObject({ source: 'declared', gpus: [{ model: 'H100', memoryMiB: 81920 }] });
        expectCaught(s);

        const t = await cli(args, env);
        expect(t.code, t.stderr).toBe(0);
        expectCaughtText(t.stdout);
      },
    );
  },
);

describe.concurrent(
  'a container joined over HTTP with --declare-gpus "1x H100 80GB" --prover <the CPU prover, 16 GiB> is caught through the relay',
  () => {
    const home = tempHome('aethir-checkers-join-');
    const data = join(home, 'liar');
    const env = { AETHIR_HOME: home };
    let devnet: DevnetProcess;
    let host: ChildProcess | null = null;
    let hostOut = '';
    let hostErr = '';
    let honest = '';
    let liar = '';

    beforeAll(async () => {
      devnet = await startDevnet(['--epoch', '10', '--data', join(home, 'devnet')], env);
      honest = /this machine: \S+ (ath1[0-9a-f]{40})/.exec(devnet.stdout())![1]!;
    });
    afterAll(async () => {
      if (host && host.exitCode === null) {
        const exited = new Promise((r) => host!.once('exit', r));
        host.kill('SIGTERM');
        const t = setTimeout(() => host?.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      await devnet?.stop();
    }, 30_000);

    const start = [
      'container',
      'start',
      '--declare-gpus',
      LIE,
      '--prover',
      CPU_PROVER,
      '--location',
      'Tokyo, JP',
      '--stake',
      'auto',
    ];

    it.sequential(
      'joins once funded for the H100 stake, then is suspended for the claim; status --data says why',
      async () => {
        const base = [...start, '--network', devnet.url, '--data', data, '--name', 'h100-liar', '--json'];
        // Unfunded: the error names the address and what staking an H100 needs.
        const refused = await cli(base, env);
        expect(refused.code).toBe(1);
        const e = JSON.parse(refused.stdout).error;
        expect(e.code).toBe('INSUFFICIENT_FUNDS');
        liar = e.details.address;
        const need = BigInt(e.details.need);
        const ath = (need + 10n ** 18n - 1n) / 10n ** 18n + 10n; // the stake in whole ATH, and fees
        const t = await cli(['transfer', liar, ath.toString()], { ...env, AETHIR_API: devnet.url });
        expect(t.code, t.stderr).toBe(0);

        host = spawn(process.execPath, [BIN, ...base], { cwd: ROOT, env: { ...process.env, ...env } });
        host.stdout!.on('data', (d) => (hostOut += d));
        host.stderr!.on('data', (d) => (hostErr += d));
        await waitFor(
          async () => hostOut.includes('"ready"'),
          60_000,
          `container ready (stderr: ${hostErr})`,
        );
        const ready = JSON.parse(hostOut).ready;
        expect(ready).toMatchObject({ address: liar, spec: { source: 'declared', gpus: 1 } });

        const caught = await waitFor(
          async () => {
            const c = await container(devnet.url, liar);
            return c?.suspended ? c : undefined;
          },
          120_000,
          `suspension of ${liar} (container stderr: ${hostErr}; devnet stderr: ${devnet.stderr()})`,
        );
        const seconds = secondsToDetection(caught);
        console.info(
          `[checkers-cli] HTTP-joined container: capacity verdict ${seconds.toFixed(1)} s after registration`,
        );
        expect(caught.checks.capacity?.ok).toBe(false);
        // The challenge reached the container's own prover through the API node's relay: the reason
        // is what its prover said, not that nobody took the challenge up.
        expect(caught.checks.capacity!.reason).not.toMatch(/did not answer/);

        // No --address: the run file in --data names the container and its network.
        const j = await cli(['container', 'status', '--data', data, '--json'], env);
        expect(j.code, j.stderr).toBe(0);
        const s = JSON.parse(j.stdout);
        expect(s.address).toBe(liar);
        expect(s.agent.running).toBe(true);
        expectCaught(s);

        const txt = await cli(['container', 'status', '--data', data], env);
        expect(txt.code, txt.stderr).toBe(0);
        expect(txt.stdout).toContain('h100-liar');
        expectCaughtText(txt.stdout);
      },
      240_000,
    );

    it.sequential(
      "the devnet's own honest container passes its checks: not suspended, no incidents",
      async () => {
        // Checked all along (liveness and location verdicts decided since the liar joined), never
        // flagged: zero false positives, not zero checks. A host without GPUs has no capacity claim to
        // prove; if a capacity verdict is there at all, it is a pass.
        const since = (await container(devnet.url, liar))!.registeredAt;
        const c = await waitFor(
          async () => {
            const v = await container(devnet.url, honest);
            return v && (v.checks.liveness?.at ?? 0) > since && (v.checks.location?.at ?? 0) > since
              ? v
              : undefined;
          },
          60_000,
          `liveness and location verdicts on ${honest}`,
        );
        expect(c.checks.liveness).toMatchObject({ ok: true });
        expect(c.checks.location).toMatchObject({ ok: true });
        const r = await cli(
          ['container', 'status', '--network', devnet.url, '--address', honest, '--json'],
          env,
        );
        expect(r.code, r.stderr).toBe(0);
        const s = JSON.parse(r.stdout);
        expect(s.suspended).toBe(false);
        expect(s.suspendedReason ?? null).toBeNull();
        expect(s.incidents).toEqual([]);
        expect(BigInt(s.stake.slashed ?? '0')).toBe(0n);
        expect(s.reputation.slashes).toBe(0);
        for (const [check, v] of Object.entries(s.verdicts as Record<string, Verdict | undefined>))
          expect(v?.ok ?? true, `${check}: ${v?.reason}`).toBe(true);
        const t = await cli(['container', 'status', '--network', devnet.url, '--address', honest], env);
        expect(t.code, t.stderr).toBe(0);
        expect(t.stdout).not.toContain('SUSPENDED');
        expect(t.stdout).not.toMatch(/^\s*why\s/m);
      },
    );
  },
);

describe.concurrent(
  'aethir devnet refuses bad --epoch, --declare-gpus and --prover before starting anything',
  () => {
    const home = tempHome('aethir-checkers-bad-');
    const env = { AETHIR_HOME: home };

    it.sequential('--epoch 0 is a usage error naming the option', async () => {
      const r = await cli(['devnet', '--port', '0', '--epoch', '0', '--data', join(home, 'a')], env);
      expect(r.code).not.toBe(0);
      expect(r.code).not.toBeNull();
      expect(r.stderr).toMatch(/--epoch must be from 1 to 86400/);
      expect(r.stdout).not.toContain('aethir devnet is running');
      expect(r.stderr).not.toContain('starting');
    });

    it.sequential(
      '--declare-gpus "banana" fails with the expected format, leaves no ledger, and exits',
      async () => {
        const dir = join(home, 'b');
        const r = await cli(['devnet', '--port', '0', '--declare-gpus', 'banana', '--data', dir], env, {
          timeoutMs: 30_000,
        });
        expect(r.code).not.toBe(0);
        expect(r.code).not.toBeNull();
        expect(r.stderr).toMatch(
          /cannot read GPUs "banana": write COUNTx MODEL MEMORY, e\.g\. "2x RTX 4090 24GB"/,
        );
        expect(r.stdout).not.toContain('aethir devnet is running');
        // nothing was created: no genesis written with this run's flags
        expect(existsSync(join(dir, 'ledger.sqlite'))).toBe(false);
      },
    );

    it.sequential(
      'container start refuses a --prover that does not speak the protocol, before contacting the network',
      async () => {
        // (the network address answers nothing: the prover is checked first)
        const base = ['container', 'start', '--network', 'http://127.0.0.1:9', '--location', 'Frankfurt, DE'];
        const missing = await cli([...base, '--prover', '/nonexistent/prover'], env);
        expect(missing.code).toBe(1);
        expect(missing.stderr).toMatch(
          /CONFIG_INVALID.*--prover \/nonexistent\/prover did not say "ready": cannot run/,
        );
        const chatty = await cli([...base, '--prover', 'echo hello'], env);
        expect(chatty.code).toBe(1);
        expect(chatty.stderr).toMatch(/--prover echo hello did not say "ready": it printed "hello"/);
      },
    );

    it.sequential(
      'devnet --prover refuses a prover that does not speak the protocol, and writes no ledger',
      async () => {
        const dir = join(home, 'c');
        const r = await cli(['devnet', '--port', '0', '--prover', 'echo hello', '--data', dir], env, {
          timeoutMs: 30_000,
        });
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(
          /CONFIG_INVALID.*--prover echo hello did not say "ready": it printed "hello"/,
        );
        expect(r.stdout).not.toContain('aethir devnet is running');
        expect(existsSync(join(dir, 'ledger.sqlite'))).toBe(false);
      },
    );
  },
);
