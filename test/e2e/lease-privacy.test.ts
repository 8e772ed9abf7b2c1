import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, cli, startDevnet, tempHome, waitFor, type DevnetProcess } from './helpers.js';

/** Every file under a directory, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

/**
 * Leases are private, through the real CLI against a devnet process: env values reach only the
 * workload (sealed to its container), and a lease's logs and endpoint open only with a token of
 * its user.
 */
describe('leases are private, end to end', () => {
  const home = tempHome('aethir-private-');
  const strangerHome = tempHome('aethir-stranger-');
  const data = join(home, 'devnet');
  const env = { AETHIR_HOME: home };
  let net: DevnetProcess;
  let apiEnv: Record<string, string>;
  const SECRET = 'hf_5ecretV4lue_9f8e7d';

  beforeAll(async () => {
    net = await startDevnet(['--data', data, '--demo-containers', '1'], env);
    apiEnv = { ...env, AETHIR_API: net.url };
  });
  afterAll(async () => {
    await net?.stop();
  });

  const getJson = async (path: string, headers: Record<string, string> = {}) => {
    const r = await fetch(net.url + path, { headers });
    return { status: r.status, text: await r.text() };
  };

  let leaseId = '';
  it('rent --env-file: the workload sees the values; the ledger files, the API and `leases ls` hold only their names', async () => {
    const file = join(home, 'workload.env');
    writeFileSync(file, `# secrets\nHF_TOKEN=${SECRET}\nQUOTED="two words"\nEXTRA=from-file\n`);
    // The workload prints a hash of what it sees: the values themselves never appear in its command.
    const program =
      "const v=[process.env.HF_TOKEN,process.env.QUOTED,process.env.EXTRA].join('|');" +
      "console.log(require('crypto').createHash('sha256').update(v).digest('hex'))";
    const r = await cli(
      ['rent', '--json', '--env-file', file, '--env', 'EXTRA=from-flag', '--', 'node', '-e', program],
      apiEnv,
    );
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const seen = r.stdout.slice(0, r.stdout.indexOf('\n'));
    expect(seen).toBe(createHash('sha256').update(`${SECRET}|two words|from-flag`).digest('hex'));
    leaseId = JSON.parse(r.stdout.slice(seen.length + 1)).lease;
    expect(leaseId).toMatch(/^L[0-9a-f]{20}$/);

    // What anyone can read: the lease (one and in the list), the lease.open transaction, the CLI.
    const one = await getJson(`/v1/leases/${leaseId}`);
    expect(JSON.parse(one.text).workload.envNames).toEqual(['EXTRA', 'HF_TOKEN', 'QUOTED']);
    const txs = await getJson('/v1/transactions?type=lease.open');
    expect(JSON.parse(txs.text).transactions[0].tx.payload.workload.envNames).toEqual([
      'EXTRA',
      'HF_TOKEN',
      'QUOTED',
    ]);
    const ls = await cli(['leases', 'ls', '--json'], { ...apiEnv, AETHIR_HOME: strangerHome });
    expect(ls.code).toBe(0);
    for (const text of [one.text, (await getJson('/v1/leases')).text, txs.text, ls.stdout, net.stdout()])
      expect(text).not.toContain(SECRET);
    // Nor the ledger's own rows: no file of the node's data directory holds the value.
    for (const f of filesUnder(data)) expect([f, readFileSync(f).includes(SECRET)]).toEqual([f, false]);
  });

  it("reading another user's logs is refused without their token; `aethir lease token` lets a second client read them", async () => {
    const anonymous = await getJson(`/v1/leases/${leaseId}/logs?follow=false`);
    expect(anonymous.status).toBe(403);
    expect(JSON.parse(anonymous.text).error.message).toMatch(/need a lease token signed by its user/);

    // A stranger's key cannot issue one: the CLI says whose lease it is, and a token it signs anyway is refused.
    await cli(['keys', 'new', 'stranger'], { AETHIR_HOME: strangerHome });
    const refused = await cli(['lease', 'token', leaseId, '--key', 'stranger'], {
      ...apiEnv,
      AETHIR_HOME: strangerHome,
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/belongs to ath1[0-9a-f]{40}, not to key stranger/);

    const t = await cli(['lease', 'token', leaseId, '--ttl', '10m', '--json'], apiEnv);
    expect(t.code).toBe(0);
    const issued = JSON.parse(t.stdout) as { token: string; expires: number; scope: string[] };
    expect(issued.scope).toEqual(['logs', 'endpoint']);
    const read = await getJson(`/v1/leases/${leaseId}/logs?follow=false`, {
      authorization: `Bearer ${issued.token}`,
    });
    expect(read.status).toBe(200);
    expect(read.text.trim().split('\n').at(-1)).toMatch(/"type":"exit"/);
    // Tokens never reach the node's output.
    expect(net.stdout() + net.stderr()).not.toContain(issued.token.split('.')[2]!);
  });

  it('rent prints an endpoint URL that works for its user only; a shared lease token opens it for a second client', async () => {
    const server =
      "require('http').createServer((q,r)=>r.end('hi '+q.url)).listen(Number(process.env.AETHIR_PORT),'127.0.0.1')";
    const child = spawn(process.execPath, [BIN, 'rent', '--max-duration', '2m', '--', 'node', '-e', server], {
      cwd: ROOT,
      env: { ...process.env, ...apiEnv },
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('close', r));
    try {
      const [, withToken, lease] = await waitFor(
        async () => /endpoint (http:\/\/\S+\/l\/(L[0-9a-f]+)\/\?token=alt1\.\S+)/.exec(stderr) ?? undefined,
        30_000,
        'rent to print the endpoint',
      );
      const bare = withToken!.slice(0, withToken!.indexOf('?'));
      const ok = await waitFor(
        async () => {
          const r = await fetch(withToken!).catch(() => null);
          return r?.ok ? r.text() : undefined;
        },
        20_000,
        'the workload to answer its user',
      );
      expect(ok).toBe('hi /');
      const anon = await fetch(`${bare}x`);
      expect(anon.status).toBe(401);
      expect(await anon.text()).toMatch(/needs a lease token signed by its user/);

      const t = await cli(['lease', 'token', lease!, '--ttl', '5m', '--json'], apiEnv);
      const shared = JSON.parse(t.stdout) as { token: string; endpoint: string };
      expect(shared.endpoint).toBe(`${bare}?token=${shared.token}`);
      const second = await fetch(`${bare}y`, { headers: { 'x-aethir-lease-token': shared.token } });
      expect([second.status, await second.text()]).toEqual([200, 'hi /y']);
    } finally {
      child.kill('SIGINT');
      await exited;
    }
  });
});
