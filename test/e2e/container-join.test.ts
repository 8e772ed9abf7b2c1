import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ath, formatAth, generateKeyPair } from '../../src/core/index.js';
import { signTelemetry } from '../../src/bus/index.js';
import { ApiClient } from '../../src/sdk/index.js';
import { Keystore } from '../../src/node/index.js';
import { BIN, ROOT, cli, startDevnet, tempHome, waitFor, type DevnetProcess } from './helpers.js';

/**
 * A machine joins a running devnet over the network (`aethir container start --network URL`,
 * another process with its own data directory), serves a rent, drains, and its telemetry cannot
 * be forged by anyone else; then it leaves: unstakes, and withdraws once the unbonding period (20 s
 * on this devnet) has ended.
 */
describe('aethir container start: joining a network through its API', () => {
  const home = tempHome('aethir-join-');
  const data = join(home, 'host');
  const env = { AETHIR_HOME: home };
  let devnet: DevnetProcess;
  let host: ChildProcess | null = null;
  let hostErr = '';
  let address = '';
  let staked = 0n;
  let until = 0;

  beforeAll(async () => {
    devnet = await startDevnet(
      ['--demo-containers', '0', '--location', 'Frankfurt, DE', '--unbonding', '20'],
      env,
    );
  });
  afterAll(async () => {
    host?.kill('SIGKILL');
    await devnet?.stop();
  });

  const run = (args: string[], timeoutMs = 60_000) =>
    cli(args, { ...env, AETHIR_API: devnet.url }, { timeoutMs });

  it('probe --json reports the hardware and a stable identity without joining', async () => {
    const a = await run(['container', 'probe', '--json']);
    const b = await run(['container', 'probe', '--json']);
    expect(a.code).toBe(0);
    const p = JSON.parse(a.stdout);
    expect(p.spec.cpu.cores).toBeGreaterThan(0);
    expect(p.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.parse(b.stdout).fingerprint).toBe(p.fingerprint);
  });

  it('refuses to start unfunded, saying which address needs how much', async () => {
    const r = await run([
      'container',
      'start',
      '--network',
      devnet.url,
      '--location',
      'Tokyo, JP',
      '--data',
      data,
      '--json',
    ]);
    expect(r.code).toBe(1);
    const e = JSON.parse(r.stdout).error;
    expect(e.code).toBe('INSUFFICIENT_FUNDS');
    address = e.details.address;
    expect(e.message).toContain(address);
    const bad = await run([
      'container',
      'start',
      '--network',
      devnet.url,
      '--location',
      // no city of 15,000+ people has this name (Atlantis has: Western Cape, ZA)
      'Xyzzyville',
      '--data',
      data,
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unknown location "Xyzzyville": no city of 15,000\+ people by that name/);
  });

  it('joins once funded, comes online through the checkers, and serves a rent', async () => {
    const t = await run(['transfer', address, '500']);
    expect(t.code).toBe(0);
    host = spawn(
      process.execPath,
      [
        BIN,
        'container',
        'start',
        '--network',
        devnet.url,
        '--location',
        'Tokyo, JP',
        '--data',
        data,
        '--name',
        'tokyo-host',
        '--json',
      ],
      { cwd: ROOT, env: { ...process.env, ...env } },
    );
    host.stderr!.on('data', (d) => (hostErr += d));
    let out = '';
    host.stdout!.on('data', (d) => (out += d));
    await waitFor(async () => out.includes('"ready"'), 60_000, `container ready (stderr: ${hostErr})`);
    expect(JSON.parse(out).ready.address).toBe(address);
    const api = new ApiClient(devnet.url);
    await waitFor(async () => (await api.container(address))?.status === 'online', 30_000, 'online');
    const r = await run([
      'rent',
      '--near',
      'Tokyo, JP',
      '--max-latency',
      '30',
      '--',
      'sh',
      '-c',
      'echo served by $AETHIR_LEASE_ID',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/served by L[0-9a-f]+/);
    expect(r.stderr).toContain('tokyo-host');
    const s = JSON.parse((await run(['container', 'status', '--data', data, '--json'])).stdout);
    expect(s).toMatchObject({ address, status: 'online', agent: { running: true, draining: false } });
    expect(s.lastChecks.length).toBeGreaterThan(0);
    // paid through the user's usage receipts, which reach a container joined over HTTP in its
    // server-sent events (lease.<id>.receipt)
    expect(BigInt(s.earnings.earned)).toBeGreaterThan(0n);
  });

  it("nobody else can send the container's heartbeats or write into its users' logs", async () => {
    const post = (body: unknown) =>
      fetch(`${devnet.url}/v1/telemetry`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const mallory = generateKeyPair();
    const chainId = 'aethir-devnet';
    const hb = { container: address, at: Date.now(), freeGpus: 0, runningLeases: 0 };
    // Signed by another key, claiming to be the container.
    const forged = {
      ...signTelemetry(mallory, chainId, Date.now(), [{ subject: `hb.${address}`, data: hb }]),
      container: address,
    };
    expect((await post(forged)).status).toBe(403);
    // Signed by its own key, which no container registered: 401 before its subjects are looked at.
    const own = signTelemetry(mallory, chainId, Date.now(), [{ subject: `hb.${address}`, data: hb }]);
    const unregistered = await post(own);
    expect(unregistered.status).toBe(401);
    expect(((await unregistered.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
    const garbage = await post({ hello: 'world' });
    expect(garbage.status).toBe(400);
    // The container's own batch is accepted once; the same batch again is a replay.
    const keys = new Keystore(join(data, 'keys'));
    const name = keys.list().find((k) => k.address === address)!.name;
    const real = signTelemetry(keys.load(name), chainId, Date.now() + 1_000, [
      { subject: `hb.${address}`, data: hb },
    ]);
    expect((await post(real)).status).toBe(202);
    expect((await post(real)).status).toBe(409);
    // Output for a lease that is not this container's.
    const log = { lease: 'Lnotmine', type: 'stdout', data: 'x', at: Date.now() };
    const intrude = signTelemetry(keys.load(name), chainId, Date.now() + 2_000, [
      { subject: 'lease.Lnotmine.log', data: log },
    ]);
    expect((await post(intrude)).status).toBe(403);
  });

  it('drains: running leases finish, new ones are refused with a reason, the user pays next to nothing', async () => {
    const d = await run(['container', 'drain', '--data', data, '--json']);
    expect(d.code, d.stderr).toBe(0);
    expect(JSON.parse(d.stdout)).toMatchObject({ draining: true, running: [] });
    const r = await run(['rent', '--near', 'Tokyo, JP', '--max-latency', '30', '--json', '--', 'echo', 'x']);
    const s = JSON.parse((await run(['container', 'status', '--data', data, '--json'])).stdout);
    expect(s.agent.draining).toBe(true);
    // Matched elsewhere (Frankfurt is out of the latency bound) or refused by the draining host.
    if (r.code === 0) expect(r.stdout).not.toContain('tokyo-host');
    else expect(r.stdout + r.stderr).toMatch(/draining|no container/i);
  });

  it('unstakes: status shows the unbonding stake and its end; an early withdraw is refused with that date', async () => {
    const signer = ['--data', data, '--network', devnet.url, '--json'];
    staked = (await new ApiClient(devnet.url).container(address))!.stake;
    expect(staked).toBeGreaterThan(ath('0.5'));
    const [neither, tooMuch] = await Promise.all([
      run(['container', 'unstake', ...signer]),
      run(['container', 'unstake', '--amount', formatAth(staked + 1n), ...signer]),
    ]);
    expect(JSON.parse(neither.stdout).error.code).toBe('INVALID_ARGUMENT');
    expect(JSON.parse(tooMuch.stdout).error).toMatchObject({
      code: 'INSUFFICIENT_FUNDS',
      details: { staked: staked.toString() },
    });
    const some = await run(['container', 'unstake', '--amount', '0.5', ...signer]);
    expect(some.code, some.stdout + some.stderr).toBe(0);
    expect(JSON.parse(some.stdout)).toMatchObject({
      container: address,
      unstaked: ath('0.5').toString(),
      staked: (staked - ath('0.5')).toString(),
      unbonding: ath('0.5').toString(),
    });
    const all = JSON.parse((await run(['container', 'unstake', '--all', ...signer])).stdout);
    expect(all).toMatchObject({
      unstaked: (staked - ath('0.5')).toString(),
      staked: '0',
      unbonding: staked.toString(),
    });
    until = all.unbondingUntil;
    // refused before the period ends, with its date; status shows both (all at once, well within it)
    const [early, text, json] = await Promise.all([
      run(['container', 'withdraw', ...signer]),
      run(['container', 'status', '--data', data]),
      run(['container', 'status', '--data', data, '--json']),
    ]);
    expect(early.code).toBe(1);
    const e = JSON.parse(early.stdout).error;
    expect(e).toMatchObject({ code: 'CONFLICT', details: { unbonding: staked.toString(), until } });
    expect(e.message).toContain(new Date(until).toISOString());
    expect(text.stdout).toContain(
      `unbonding ${formatAth(staked)} ATH until ${new Date(until).toISOString()}`,
    );
    expect(JSON.parse(json.stdout).stake).toMatchObject({
      staked: '0',
      unbonding: staked.toString(),
      unbondingUntil: until,
    });
  });

  it('stops on SIGTERM', async () => {
    host!.kill('SIGTERM');
    const code = await new Promise<number | null>((res) => host!.on('exit', (c) => res(c)));
    expect(code).toBe(0);
    host = null;
  });

  it('withdraws once the unbonding period has ended: the whole stake moves to the balance', async () => {
    const api = new ApiClient(devnet.url);
    const before = (await api.account(address)).balance;
    // the period ends at a time, not an event: wait for the clock the devnet's blocks take
    await waitFor(async () => Date.now() > until, 60_000, 'the unbonding period to end');
    const w = await run(['container', 'withdraw', '--data', data, '--network', devnet.url, '--json']);
    expect(w.code, w.stdout + w.stderr).toBe(0);
    expect(JSON.parse(w.stdout)).toMatchObject({
      container: address,
      withdrawn: staked.toString(),
      balance: (before + staked).toString(),
    });
    expect(await api.container(address)).toMatchObject({ stake: 0n, unbonding: 0n, unbondingUntil: null });
  });
});
