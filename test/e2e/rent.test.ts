import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { cli, startDevnet, tempHome, waitFor, type DevnetProcess } from './helpers.js';

/**
 * What a newcomer does: start a devnet, rent compute from another terminal, see the output
 * and the charge; stop the network, start it again on the same data, audit the ledger.
 */
describe('devnet + rent, end to end through the CLI', () => {
  const home = tempHome();
  const data = join(home, 'devnet');
  const env = { AETHIR_HOME: home };
  let net: DevnetProcess;
  let apiEnv: Record<string, string>;

  beforeAll(async () => {
    net = await startDevnet(['--data', data, '--demo-containers', '2'], env);
    apiEnv = { ...env, AETHIR_API: net.url };
  });
  afterAll(async () => {
    await net?.stop();
  });

  it('prints the API and dashboard URLs', () => {
    expect(net.stdout()).toMatch(/API:\s+http:\/\/127\.0\.0\.1:\d+\/v1/);
    expect(net.stdout()).toMatch(/Dashboard:\s+http:\/\/127\.0\.0\.1:\d+\//);
  });

  let leaseId = '';
  it('rents, streams the output, exits with the workload code and prints the charge and its split', async () => {
    const r = await cli(['rent', '--', 'node', '-e', 'console.log(6*7)'], apiEnv, { viaNpx: true });
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('42\n');
    const lease = /lease (L[0-9a-f]+) closed/.exec(r.stderr);
    expect(lease).not.toBeNull();
    leaseId = lease![1]!;
    expect(r.stderr).toMatch(/container\s+\S+ ath1[0-9a-f]{40}/);
    expect(r.stderr).toMatch(/duration\s+\d+\.\d+ s/);
    expect(r.stderr).toMatch(/split\s+host .* \(80%\)\s+protocol .* \(20%\)/);
  });

  it('--json summary: charged = served (as the client signed it) × price, split 80/20 exactly, exit code propagated', async () => {
    const r = await cli(['rent', '--json', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3'], apiEnv);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stdout.startsWith('out\n')).toBe(true);
    expect(r.stderr).toContain('err\n');
    const s = JSON.parse(r.stdout.slice('out\n'.length));
    const charged = BigInt(s.charged);
    expect(charged).toBeGreaterThan(0n);
    expect(BigInt(s.hostShare) + BigInt(s.protocolShare)).toBe(charged);
    expect(BigInt(s.hostShare)).toBe((charged * 8000n) / 10000n);
    // the container closed with the client's final usage receipt: charged for what it signed,
    // which never exceeds the lease's block time
    expect(s.servedMs).toBeGreaterThan(0);
    const billed = Math.min(s.servedMs, s.durationMs);
    expect(charged).toBe((BigInt(s.pricePerHour) * BigInt(billed)) / 3_600_000n);
    expect(s.exitCode).toBe(3);
  });

  it('a failing rent changes nothing and says why', async () => {
    const r = await cli(['rent', '--gpus', '1', '--gpu-model', 'no-such-gpu', '--', 'true'], apiEnv);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error \[NO_MATCH\]: no container matches/);
    const bad = await cli(['rent', '--max-duration', 'forever', '--', 'true'], apiEnv);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/INVALID_ARGUMENT/);
  });

  it('lists containers, leases, the account and the status as JSON', async () => {
    const cs = JSON.parse((await cli(['containers', 'ls', '--json'], apiEnv)).stdout);
    expect(cs.containers).toHaveLength(3);
    expect(cs.containers.filter((c: any) => c.simulated)).toHaveLength(2);
    expect(cs.containers.every((c: any) => c.status === 'online')).toBe(true);
    const ls = JSON.parse((await cli(['leases', 'ls', '--json'], apiEnv)).stdout);
    expect(ls.leases.map((l: any) => l.id)).toContain(leaseId);
    const acct = JSON.parse((await cli(['account', '--json'], apiEnv)).stdout);
    // two leases, each preceded by an escrow top-up
    expect(acct.nonce).toBe(4);
    expect(BigInt(acct.escrow)).toBeGreaterThan(0n);
    const st = JSON.parse((await cli(['status', '--json'], apiEnv)).stdout);
    expect(st.leases.total).toBe(2);
    expect(st.root).toMatch(/^[0-9a-f]{64}$/);
  });

  it('survives a restart on the same data directory, and the ledger verifies', async () => {
    const before = JSON.parse((await cli(['status', '--json'], apiEnv)).stdout);
    const acctBefore = JSON.parse((await cli(['account', '--json'], apiEnv)).stdout);
    const live = await cli(['ledger', 'verify', '--data', data, '--json'], env);
    expect(JSON.parse(live.stdout).ok).toBe(true);

    expect(await net.stop('SIGINT')).toBe(0);
    const offline = await cli(['ledger', 'verify', '--data', data], env);
    expect(offline.code).toBe(0);
    expect(offline.stdout).toMatch(/ledger OK/);

    net = await startDevnet(['--data', data, '--demo-containers', '2'], env);
    apiEnv = { ...env, AETHIR_API: net.url };
    const lease = JSON.parse((await cli(['leases', 'ls', '--json'], apiEnv)).stdout).leases.find(
      (l: any) => l.id === leaseId,
    );
    expect(lease.status).toBe('closed');
    const acctAfter = JSON.parse((await cli(['account', '--json'], apiEnv)).stdout);
    expect(acctAfter).toEqual(acctBefore);
    const after = JSON.parse((await cli(['status', '--json'], apiEnv)).stdout);
    expect(after.chainId).toBe(before.chainId);
    expect(after.height).toBeGreaterThanOrEqual(before.height);
    expect(after.containers.total).toBe(3);
    // and it still rents after the restart
    const r = await cli(['rent', '--', 'node', '-e', 'console.log("again")'], apiEnv);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('again\n');
    await net.stop();
    const v = await cli(['ledger', 'verify', '--data', data, '--json'], env);
    const report = JSON.parse(v.stdout);
    expect(report.ok).toBe(true);
    expect(report.height).toBeGreaterThan(before.height);
  });

  it('Ctrl-C on rent closes the lease and kills the whole process tree', async () => {
    net = await startDevnet(['--data', data], env);
    apiEnv = { ...env, AETHIR_API: net.url };
    const { spawn } = await import('node:child_process');
    const { BIN, ROOT } = await import('./helpers.js');
    // A sandboxed workload sees pids of its own namespace: find the grandchild on the host by a
    // command line no other process has.
    const tag = String(300 + (process.pid % 600));
    const hostPids = () => {
      try {
        return execFileSync('pgrep', ['-fx', `sleep ${tag}`], { encoding: 'utf8' })
          .split('\n')
          .filter(Boolean);
      } catch {
        return []; // none
      }
    };
    const child = spawn(
      process.execPath,
      [BIN, 'rent', '--json', '--', 'sh', '-c', `sleep ${tag} & echo started; wait`],
      {
        cwd: ROOT,
        env: { ...process.env, ...apiEnv },
      },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    await waitFor(async () => /started\n/.test(out) || undefined, 30_000, 'the workload to start');
    await waitFor(async () => hostPids().length === 1 || undefined, 10_000, 'the grandchild on the host');
    const exited = new Promise<number | null>((r) => child.on('close', r));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    await waitFor(async () => hostPids().length === 0, 10_000, 'the grandchild to be killed');
    const summary = JSON.parse(out.slice(out.indexOf('{')));
    expect(summary.status).toBe('closed');
    expect(summary.reason).toBe('cancelled by user');
    expect(BigInt(summary.refunded)).toBeGreaterThan(0n);
  });
});
