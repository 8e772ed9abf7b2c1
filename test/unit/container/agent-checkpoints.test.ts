import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { generateKeyPair, signLeaseToken, type KeyPair } from '../../../src/core/index.js';
import { AgentCheckpoints } from '../../../src/container/agent-checkpoints.js';
import { EndpointProxy } from '../../../src/container/endpoint-proxy.js';
import type { Lease } from '../../../src/ledger/index.js';
import type { NetworkClient } from '../../../src/sdk/index.js';
import { downloadFromLease, uploadToLease } from '../../../src/sdk/lease-session.js';

/**
 * Checkpoints moving between hosts through the files door (checkpoint-door.ts), against a real
 * endpoint server and the SDK's copy client: the old host serves an ended interruptible lease's
 * checkpoint to its user only, only while params.checkpointKeepMs lasts, and only downloads; the
 * new host takes an upload for a resuming lease before its command starts, and nothing else.
 */
const CHAIN = 'test-chain';
const KEEP = 60_000;

describe('checkpoint doors', () => {
  let now = Date.now();
  const me = 'host-a';
  const user: KeyPair = generateKeyPair();
  const stranger: KeyPair = generateKeyPair();
  const leases = new Map<string, Partial<Lease>>();
  const network = {
    lease: async (id: string) => leases.get(id) as Lease | undefined,
  } as unknown as NetworkClient;
  const base = mkdtempSync(join(tmpdir(), 'aethir-ckpt-unit-'));
  const work = mkdtempSync(join(tmpdir(), 'aethir-ckpt-work-'));
  const proxy = new EndpointProxy({ host: '127.0.0.1' });
  let url = '';
  let cps: AgentCheckpoints;
  const token = (k: KeyPair, lease: string) =>
    signLeaseToken(k, { chainId: CHAIN, lease, exp: Date.now() + 60_000, scope: ['files'] });
  const door = (lease: string, k: KeyPair = user) => ({
    api: url,
    lease,
    token: token(k, lease),
    door: `${url}/x/${lease}`,
  });
  const closed = (id: string, extra: Partial<Lease> = {}): Partial<Lease> => ({
    id,
    user: user.address,
    container: me,
    interruptible: true,
    status: 'closed',
    closedAt: now - 1000,
    ...extra,
  });

  const checkpoints = (waitMs: number) =>
    new AgentCheckpoints(base, {
      id: me,
      network,
      endpoints: proxy,
      chainId: () => CHAIN,
      now: () => now,
      keepMs: () => KEEP,
      waitMs,
    });

  beforeAll(async () => {
    url = await proxy.start();
    cps = checkpoints(5_000);
    proxy.resolveDoors((id) => cps.door(id));
    mkdirSync(join(base, 'Lold', 'sub'), { recursive: true });
    writeFileSync(join(base, 'Lold', 'ckpt.txt'), 'step 7');
    writeFileSync(join(base, 'Lold', 'sub', 'x.bin'), Buffer.alloc(1000, 1));
    leases.set('Lold', closed('Lold'));
  });
  afterAll(async () => {
    await (proxy as unknown as { server: { close(): void } | null }).server?.close();
    rmSync(base, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  it('the old host serves an ended lease’s checkpoint to its user', async () => {
    const got = await downloadFromLease(door('Lold'), { remotePath: '.', localPath: join(work, 'a') });
    expect(got.files).toBe(2);
    expect(readFileSync(join(work, 'a', 'ckpt.txt'), 'utf8')).toBe('step 7');
    expect(readFileSync(join(work, 'a', 'sub', 'x.bin')).length).toBe(1000);
  });

  it('not to a stranger, nor with a token for another lease', async () => {
    await expect(
      downloadFromLease(door('Lold', stranger), { remotePath: '.', localPath: join(work, 'b') }),
    ).rejects.toThrow(/not signed by the lease's user/);
    const other = { ...door('Lold'), token: token(user, 'Lother') };
    await expect(downloadFromLease(other, { remotePath: '.', localPath: join(work, 'b') })).rejects.toThrow(
      /for lease Lother, not Lold/,
    );
    expect(existsSync(join(work, 'b'))).toBe(false);
  });

  it('no shell or command at a checkpoint door, even with an exec token the user signed', async () => {
    const execToken = signLeaseToken(user, {
      chainId: CHAIN,
      lease: 'Lold',
      exp: Date.now() + 60_000,
      scope: ['exec'],
    });
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/x/Lold/exec`, {
        headers: { 'x-aethir-lease-token': execToken },
      });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      // a session would run `tar -c --checkpoint-action=exec=…` as the agent: it must never open
      ws.on('open', () => {
        ws.send(JSON.stringify({ type: 'exec', command: ['tar', '-c', '--checkpoint-action=exec=id'] }));
        reject(new Error('an exec session opened at a checkpoint door'));
      });
      ws.on('error', () => undefined);
    });
    expect(status).toBe(409);
  });

  it('nothing is written into the old checkpoint through its door', async () => {
    mkdirSync(join(work, 'evil'), { recursive: true });
    writeFileSync(join(work, 'evil', 'ckpt.txt'), 'forged');
    // refused (the host answers with an error while the client is still sending)
    await expect(
      uploadToLease(door('Lold'), { localPath: join(work, 'evil'), remotePath: '.' }),
    ).rejects.toThrow();
    expect(readFileSync(join(base, 'Lold', 'ckpt.txt'), 'utf8')).toBe('step 7');
  });

  it('not while the lease runs, not past the keep time, not for another host’s lease', async () => {
    const cases: Array<[string, Partial<Lease>]> = [
      ['Lrun', { status: 'open', closedAt: null }],
      ['Llate', { closedAt: now - KEEP - 1 }],
      ['Lelse', { container: 'host-b' }],
      ['Lplain', { interruptible: undefined }],
    ];
    for (const [id, extra] of cases) {
      mkdirSync(join(base, id), { recursive: true });
      writeFileSync(join(base, id, 'ckpt.txt'), id);
      leases.set(id, closed(id, extra));
      await expect(
        downloadFromLease(door(id), { remotePath: '.', localPath: join(work, id) }),
        id,
      ).rejects.toThrow(/not running on this container/);
    }
  });

  it('a resuming lease waits for its user’s upload, takes it before its command, and only that', async () => {
    leases.set('Lnew', {
      id: 'Lnew',
      user: user.address,
      container: me,
      interruptible: true,
      status: 'open',
      resumes: 'Lfar',
    });
    leases.set('Lfar', closed('Lfar', { container: 'host-b' }));
    const ready = cps.prepare(leases.get('Lnew') as Lease);
    while (!proxy.doorOf('Lnew', 'files')) await new Promise((r) => setTimeout(r, 10));
    mkdirSync(join(work, 'src', 'd'), { recursive: true });
    writeFileSync(join(work, 'src', 'ckpt.txt'), 'step 9');
    writeFileSync(join(work, 'src', 'd', 'y'), 'y');
    // a stranger cannot fill it
    await expect(
      uploadToLease(door('Lnew', stranger), { localPath: join(work, 'src'), remotePath: '.' }),
    ).rejects.toThrow(/not signed/);
    // nor read it back through the upload door
    await expect(
      downloadFromLease(door('Lnew'), { remotePath: '.', localPath: join(work, 'back') }),
    ).rejects.toThrow(/only serves uploads/);
    await uploadToLease(door('Lnew'), { localPath: join(work, 'src'), remotePath: '.' });
    const dir = await ready;
    expect(dir).toBe(join(base, 'Lnew'));
    expect(readFileSync(join(dir!, 'ckpt.txt'), 'utf8')).toBe('step 9');
    expect(readFileSync(join(dir!, 'd', 'y'), 'utf8')).toBe('y');
    // the door closed with the wait: the lease's own door (its workload's) is the agent's to open
    await expect(
      uploadToLease(door('Lnew'), { localPath: join(work, 'src'), remotePath: '.' }),
    ).rejects.toThrow(/not running on this container/);
  });

  it('no upload within the wait: the lease starts without a checkpoint', async () => {
    const quick = checkpoints(200);
    leases.set('Lnone', { ...leases.get('Lnew')!, id: 'Lnone' });
    const lines: string[] = [];
    const dir = await quick.prepare(leases.get('Lnone') as Lease, (l) => lines.push(l));
    expect(lines.join('')).toMatch(/no checkpoint arrived within 0 s: starting without it/);
    expect(existsSync(join(dir!, 'ckpt.txt'))).toBe(false);
  });

  it('sweeps checkpoints past the keep time, keeps the rest', async () => {
    now += KEEP;
    const removed = await cps.sweep();
    expect(removed).toBeGreaterThan(0);
    expect(existsSync(join(base, 'Lold'))).toBe(false);
    // a running lease's checkpoint stays
    expect(existsSync(join(base, 'Lrun'))).toBe(true);
    expect(existsSync(join(base, 'Lnew'))).toBe(true);
  });
});
