import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AethirError, ath, generateKeyPair, signLeaseToken, type KeyPair } from '../../src/core/index.js';
import type { ContainerSpec } from '../../src/ledger/index.js';
import { locationOf, type RunningNode } from '../../src/node/index.js';
import { TxSender, downloadFromLease } from '../../src/sdk/index.js';
import { BIN, ROOT, cli, startInProcessDevnet, tempHome, waitFor } from './helpers.js';

const NOTICE_MS = 4_000;

const sim = (model: string, n: number): ContainerSpec => ({
  source: 'simulated',
  gpus: Array.from({ length: n }, () => ({ model, memoryMiB: 81_920 })),
  cpu: { model: 'simulated CPU', cores: 8 },
  memoryMiB: 65_536,
  os: 'simulated',
});

/**
 * Reserved and interruptible capacity through the real CLI on one devnet: a user reserves a
 * host's GPUs, runs two leases on them at no extra charge while a stranger cannot get them; an
 * interruptible lease is preempted by a higher on-demand one, gets SIGTERM and writes a
 * checkpoint, is charged only up to the preemption, and resumes from the checkpoint.
 */
describe('reserved and interruptible capacity', () => {
  let node: RunningNode;
  const home = tempHome();
  let env: Record<string, string>;
  let bobEnv: Record<string, string>;
  let bobHome = '';
  const rig = generateKeyPair();
  const spot = generateKeyPair();
  const ledger = () => node.devnet.chain.ledger;
  const json = async (args: string[], e = env) => {
    const r = await cli([...args, '--json'], e, { timeoutMs: 90_000 });
    if (r.code !== 0) throw new Error(`aethir ${args.join(' ')} failed (${r.code}): ${r.stdout}${r.stderr}`);
    return JSON.parse(r.stdout);
  };

  beforeAll(async () => {
    node = await startInProcessDevnet(home, {
      settleIntervalMs: 500,
      heartbeatIntervalMs: 200,
      demoContainers: 0,
      preemptNoticeMs: NOTICE_MS,
    });
    const d = node.devnet;
    expect(d.chain.ledger.params.preemptNoticeMs).toBe(NOTICE_MS);
    const place = locationOf('Frankfurt, DE');
    await d.addContainer({
      key: rig,
      name: 'h100-rig',
      spec: sim('NVIDIA H100 80GB HBM3', 2),
      location: place,
      price: ath(2),
    });
    await d.addContainer({
      key: spot,
      name: 'a100-spot',
      spec: sim('NVIDIA A100-SXM4-80GB', 1),
      location: place,
      price: ath(1),
    });
    await waitFor(
      async () =>
        [rig, spot].every((k) => {
          const c = ledger().container(k.address);
          return c && ledger().isServing(c);
        }),
      60_000,
      'the two hosts to serve',
    );
    env = { AETHIR_HOME: home, AETHIR_API: node.url };
    // a second user (bob), funded by the developer
    bobHome = tempHome();
    bobEnv = { AETHIR_HOME: bobHome, AETHIR_API: node.url };
    expect((await cli(['keys', 'new', 'developer'], bobEnv)).code).toBe(0);
    const bob = JSON.parse((await cli(['keys', 'ls', '--json'], bobEnv)).stdout).keys[0].address as string;
    expect((await cli(['transfer', bob, '1000'], env)).code).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await node?.stop();
  });

  let reservation = '';
  it('reserve books the host’s GPUs at its reserved price; two leases run on it at no extra charge', async () => {
    const r = await json(['reserve', '--gpus', '2', '--gpu-model', 'H100', '--for', '1d', '--region', 'eu']);
    reservation = r.reservation;
    expect(r).toMatchObject({ container: rig.address, gpus: 2, days: 1 });
    // 70% of 2 ATH per GPU-hour on a devnet, × 2 GPUs × 24 h
    expect(BigInt(r.escrow)).toBe(ath('1.4') * 2n * 24n);
    expect(ledger().container(rig.address)).toMatchObject({ gpusReserved: 2, gpusLeased: 0 });
    const user = ledger().reservation(reservation)!.user;
    const escrowBefore = ledger().account(user).escrow;
    for (const word of ['first', 'second']) {
      const run = await cli(
        ['rent', '--reservation', reservation, '--', 'node', '-e', `console.log('${word}')`],
        env,
        {
          timeoutMs: 90_000,
        },
      );
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toContain(word);
      expect(run.stderr).toMatch(/nothing more to pay/);
    }
    const mine = ledger()
      .leases()
      .filter((l) => l.reservation === reservation);
    expect(mine).toHaveLength(2);
    for (const l of mine) expect(l).toMatchObject({ status: 'closed', charged: 0n, escrow: 0n });
    expect(ledger().account(user).escrow).toBe(escrowBefore);
    const shown = await json(['reservations', 'show', reservation]);
    expect(shown).toMatchObject({ id: reservation, status: 'active', gpus: 2, leases: 2, gpusInUse: 0 });
    const ls = await json(['reservations', 'ls']);
    expect(ls.reservations.map((x: any) => x.id)).toEqual([reservation]);
  }, 240_000);

  it('a stranger cannot get those GPUs: no match, its reservation refused, a direct lease.open refused', async () => {
    const m = await cli(['rent', '--gpus', '1', '--gpu-model', 'H100', '--', 'true'], bobEnv, {
      timeoutMs: 60_000,
    });
    expect(m.code).toBe(1);
    expect(m.stderr).toMatch(/no container matches/);
    const r = await cli(['rent', '--reservation', reservation, '--', 'true'], bobEnv, { timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/UNAUTHORIZED.*belongs to/);
    const offers = await json(['offers', 'num_gpus>=1']);
    expect(offers.offers.map((o: any) => o.container.id)).not.toContain(rig.address);
    // straight to the ledger, as an attacker would, naming the container and the reservation
    const stranger: KeyPair = generateKeyPair();
    await new TxSender(node.devnet.developer, node.devnet.network).send('transfer', {
      to: stranger.address,
      amount: ath(500),
    });
    const s = new TxSender(stranger, node.devnet.network);
    await s.send('escrow.deposit', { amount: ath(400) });
    const root = ledger().root();
    const open = (extra: Record<string, unknown>) =>
      s.send('lease.open', {
        container: rig.address,
        gpus: 1,
        maxDurationSec: 60,
        maxPricePerHour: ath(5),
        workload: { command: ['true'] },
        ...extra,
      });
    await expect(open({})).rejects.toMatchObject({ code: 'CAPACITY_EXHAUSTED' });
    await expect(open({ reservation })).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    await expect(open({ interruptible: true, bidPerHour: ath(2) })).rejects.toBeInstanceOf(AethirError);
    expect(ledger().root()).toBe(root);
  }, 120_000);

  it('an interruptible lease is preempted by a plain on-demand rent: SIGTERM, checkpoint, charged to the preemption; then resumed on another host', async () => {
    // the workload counts; on SIGTERM it writes where it got to into $AETHIR_CHECKPOINT_DIR and exits
    const script = [
      "const fs=require('fs'),p=require('path');let n=0;",
      "console.log('started',process.env.AETHIR_CHECKPOINT_DIR?'with-checkpoint-dir':'no-dir');",
      'setInterval(()=>n++,50);',
      "process.on('SIGTERM',()=>{fs.writeFileSync(p.join(process.env.AETHIR_CHECKPOINT_DIR,'ckpt.txt'),'step '+n);console.log('checkpointed');process.exit(0)});",
    ].join('');
    const child = spawn(
      process.execPath,
      [
        BIN,
        'rent',
        '--interruptible',
        '--bid',
        '0.4',
        '--gpus',
        '1',
        '--container',
        spot.address,
        '--',
        'node',
        '-e',
        script,
      ],
      { cwd: ROOT, env: { ...process.env, ...env } },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    try {
      await waitFor(
        async () => out.includes('started'),
        60_000,
        `the interruptible workload to start\n${err}`,
      );
      expect(out).toContain('with-checkpoint-dir');
      const a = ledger()
        .leases()
        .find((l) => l.container === spot.address && l.interruptible)!;
      expect(a).toMatchObject({ status: 'open', pricePerHour: ath('0.4') });
      await new Promise((r) => setTimeout(r, 1500));
      // bob rents a GPU on demand, a plain match: no host has one free (the rig is reserved), so
      // it gets the spot host at its price (1 ATH > 0.4) and the interruptible lease its notice
      const b = await cli(
        ['rent', '--gpus', '1', '--', 'node', '-e', "console.log('on-demand ran')"],
        bobEnv,
        {
          timeoutMs: 90_000,
        },
      );
      expect(b.code, b.stderr).toBe(0);
      expect(b.stdout).toContain('on-demand ran');
      expect(b.stderr).toMatch(/preempts interruptible capacity/);
      expect(b.stderr).toMatch(new RegExp(`preempted ${a.id}`));
      expect(await exited).toBe(0);
      expect(out).toContain('checkpointed');
      expect(err).toMatch(/preempted by a higher-paying lease/);
      const closed = ledger().lease(a.id)!;
      expect(closed.status).toBe('closed');
      expect(closed.preemptedAt).toBeDefined();
      expect(closed.preemptStopAt).toBe(closed.preemptedAt! + NOTICE_MS);
      // charged only up to the preemption, at the bid
      expect(closed.settledAt).toBeLessThanOrEqual(closed.preemptedAt!);
      expect(closed.charged).toBeLessThanOrEqual(
        (ath('0.4') * BigInt(closed.preemptedAt! - closed.openedAt)) / 3_600_000n,
      );
      const bLease = ledger().lease(closed.preemptedBy!)!;
      expect(bLease.openedAt).toBe(closed.preemptStopAt);
      // the checkpoint is kept on the host
      const agent = node.devnet.agents.find((x) => x.id === spot.address)!;
      const ckpt = `${agent.checkpointPath(a.id)}/ckpt.txt`;
      await waitFor(async () => existsSync(ckpt), 10_000, 'the checkpoint file');
      expect(readFileSync(ckpt, 'utf8')).toMatch(/^step \d+$/);
      const written = readFileSync(ckpt, 'utf8');
      // a cheaper host joins: the resumed lease lands there, the checkpoint fetched from the spot
      // host through the user's client and copied in before its command starts
      const spare = generateKeyPair();
      await node.devnet.addContainer({
        key: spare,
        name: 'a100-spare',
        spec: sim('NVIDIA A100-SXM4-80GB', 1),
        location: locationOf('Frankfurt, DE'),
        price: ath('0.9'),
      });
      await waitFor(
        async () => {
          const c = ledger().container(spare.address);
          return c && ledger().isServing(c);
        },
        60_000,
        'the spare host to serve',
      );
      // a stranger cannot fetch it: the old lease's files door wants its user's token
      const thief = signLeaseToken(generateKeyPair(), {
        chainId: ledger().chain.chainId,
        lease: a.id,
        exp: Date.now() + 60_000,
        scope: ['files'],
      });
      await expect(
        downloadFromLease(
          { api: node.url, lease: a.id, token: thief },
          { remotePath: '.', localPath: `${bobHome}/stolen` },
        ),
      ).rejects.toThrow(/not signed by the lease's user/);
      expect(existsSync(`${bobHome}/stolen`)).toBe(false);
      const resumed = await cli(
        [
          'rent',
          '--resume',
          a.id,
          '--',
          'node',
          '-e',
          "console.log('resumed from',require('fs').readFileSync(process.env.AETHIR_CHECKPOINT_DIR+'/ckpt.txt','utf8'))",
        ],
        env,
        { timeoutMs: 90_000 },
      );
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stdout).toContain(`resumed from ${written}`);
      expect(resumed.stderr).toMatch(/checkpoint of .* copied to a100-spare/);
      const r = ledger()
        .leases()
        .find((l) => l.resumes === a.id)!;
      expect(r.container).toBe(spare.address);
      // and when the host that kept a checkpoint is gone, --resume says so and offers --no-checkpoint
      node.devnet.agents.find((x) => x.id === spot.address)!.partition();
      await waitFor(
        async () => !ledger().isServing(ledger().container(spot.address)!),
        60_000,
        'spot offline',
      );
      const lost = await cli(['rent', '--resume', a.id], env, { timeoutMs: 60_000 });
      expect(lost.code).not.toBe(0);
      expect(lost.stderr).toMatch(/kept on a100-spot, which .*--no-checkpoint/);
      const fresh = await cli(
        ['rent', '--resume', a.id, '--no-checkpoint', '--', 'node', '-e', "console.log('fresh start')"],
        env,
        {
          timeoutMs: 90_000,
        },
      );
      expect(fresh.code, fresh.stderr).toBe(0);
      expect(fresh.stdout).toContain('fresh start');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 240_000);
});

/**
 * A reserved host fails (a partition: no heartbeats): the checkers' majority marks it offline,
 * the reservation closes at the first offline observation, the host is paid pro rata to it and
 * slashed, and the rest of the period is back in the user's escrow.
 */
describe('a reservation whose host fails', () => {
  let node: RunningNode;
  const home = tempHome();
  const rig = generateKeyPair();
  const ledger = () => node.devnet.chain.ledger;

  beforeAll(async () => {
    node = await startInProcessDevnet(home, {
      demoContainers: 0,
      heartbeatIntervalMs: 200,
      offlineAfterMs: 1000,
      checkIntervalMs: 200,
    });
    await node.devnet.addContainer({
      key: rig,
      name: 'h100-rig',
      spec: sim('NVIDIA H100 80GB HBM3', 2),
      location: locationOf('Frankfurt, DE'),
      price: ath(2),
    });
    await waitFor(
      async () => {
        const c = ledger().container(rig.address);
        return c && ledger().isServing(c);
      },
      60_000,
      'the host to serve',
    );
  }, 120_000);
  afterAll(async () => {
    await node?.stop();
  });

  it('is refunded pro rata to the failure, and the host slashed', async () => {
    const env = { AETHIR_HOME: home, AETHIR_API: node.url };
    const r = await cli(
      ['reserve', '--gpus', '1', '--for', '2d', '--container', rig.address, '--json'],
      env,
      {
        timeoutMs: 60_000,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    const id = JSON.parse(r.stdout).reservation as string;
    const user = ledger().reservation(id)!.user;
    const escrowAfterReserve = ledger().account(user).escrow;
    node.devnet.agents.find((a) => a.id === rig.address)!.partition();
    const closed = await waitFor(
      async () => {
        const x = ledger().reservation(id)!;
        return x.status === 'closed' ? x : undefined;
      },
      60_000,
      'the reservation to close',
    );
    expect(closed.closeReason).toMatch(/went offline/);
    const due = (ath('1.4') * 24n * BigInt(closed.closedAt! - closed.startsAt)) / 86_400_000n;
    expect(closed.charged).toBe(due);
    expect(ledger().account(user).escrow - escrowAfterReserve).toBe(closed.escrow - due);
    expect(ledger().container(rig.address)!.slashed).toBeGreaterThan(0n);
    expect(ledger().container(rig.address)!.gpusReserved).toBe(0);
    const shown = await cli(['reservations', 'show', id], env);
    expect(shown.stdout).toMatch(/closed \(container went offline/);
  }, 120_000);
});
