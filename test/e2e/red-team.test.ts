/**
 * The attacks of issue 13, as a tenant would make them: with nothing but `aethir rent` on a devnet
 * whose container runs every workload in the lease sandbox. Each test names its attack and fails
 * the day the attack works again. (The Docker runtime's twins are in test/integration/container.)
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeMissing, probeSandbox } from '../../src/container/runtimes/sandbox.js';
import { cli, startDevnet, tempHome, waitFor, type DevnetProcess } from './helpers.js';

const probe = await probeSandbox();
const why = probe.ok ? '' : ` (skipped: the sandbox cannot run here: ${describeMissing(probe.requirements)})`;
const LEASE_MEMORY_MIB = 128;

// CI installs what the sandbox needs (.ci/run): there a machine that cannot sandbox is a failure.
it.runIf(!probe.ok && process.env.CI === 'true')('CI can run the lease sandbox', () => {
  expect.fail(`the sandbox cannot run in CI: ${describeMissing(probe.requirements)}`);
});

/** Processes on the host whose command line contains `needle` (not this test's own pgrep). */
function hostProcesses(needle: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', needle], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l && !l.includes('pgrep'));
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

describe.skipIf(!probe.ok)(`red team: a tenant attacks the host through aethir rent${why}`, () => {
  let home: string;
  let devnet: DevnetProcess;
  let env: Record<string, string>;
  let devnetPid: number;
  let apiPort: string;

  const rent = (script: string, extra: string[] = [], timeoutMs = 90_000) =>
    cli(['rent', ...extra, '--', 'sh', '-c', script], env, { timeoutMs });

  /** Every secret key the devnet holds (faucet, governance, checkers, developer, containers). */
  const secrets = (): string[] => {
    const dirs = [join(home, 'keys'), join(home, 'devnet', 'keys')];
    const out: string[] = [];
    for (const dir of dirs)
      for (const f of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
        const k = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { secretKey: string };
        out.push(k.secretKey);
      }
    return out;
  };

  beforeAll(async () => {
    home = tempHome('aethir-redteam-');
    env = { AETHIR_HOME: home };
    devnet = await startDevnet(
      ['--isolation', 'sandbox', '--lease-memory', String(LEASE_MEMORY_MIB), '--epoch', '60'],
      env,
    );
    env.AETHIR_API = devnet.url;
    devnetPid = devnet.child.pid!;
    apiPort = new URL(devnet.url).port;
  }, 90_000);

  afterAll(async () => {
    await devnet?.stop();
  });

  it('registers the container as sandboxed, for users to see', async () => {
    const r = await cli(['containers', 'ls', '--json'], env);
    const { containers: list } = JSON.parse(r.stdout) as {
      containers: Array<{ spec: { isolation?: string } }>;
    };
    expect(list.map((c) => c.spec.isolation)).toEqual(['sandbox']);
  });

  it('attack: read every key file and the ledger of the devnet (they are not in the view)', async () => {
    const keys = [join(home, 'keys'), join(home, 'devnet', 'keys')];
    const r = await rent(
      `id -u; cat ../../keys/*.json; for d in ${keys.join(' ')}; do cat "$d"/*.json; done; ` +
        `head -c 64 ${join(home, 'devnet', 'ledger.sqlite')}; ls ${home}; echo done`,
    );
    expect(r.code).toBe(0);
    const out = r.stdout + r.stderr;
    expect(out).toContain('done');
    const uid = Number(/^(\d+)$/m.exec(r.stdout)?.[1]);
    expect(uid).toBeGreaterThanOrEqual(200_000); // a lease uid, never the agent's (root) one
    for (const s of secrets()) expect(out).not.toContain(s);
    expect(out).not.toContain('SQLite format');
    expect(out).toMatch(/No such file or directory/);
  }, 120_000);

  it("attack: read another lease's files, by relative and absolute path", async () => {
    const marker = `secret-${Date.now()}`;
    // Lease A keeps a secret in its directory and waits.
    const a = rent(`echo ${marker} > secret.txt; sleep 8; cat secret.txt`, ['--max-duration', '1m']);
    // Wait until A runs, then learn where its directory is (as an attacker could guess it).
    let aDir = '';
    for (let i = 0; i < 100 && !aDir; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const r = await cli(['leases', 'ls', '--json'], env);
      const { leases } = JSON.parse(r.stdout) as { leases: Array<{ id: string; status: string }> };
      const open = leases.find((l) => l.status === 'open');
      if (open) aDir = open.id;
    }
    expect(aDir).not.toBe('');
    const b = await rent(
      `ls -la ..; cat ../${aDir}/secret.txt; cat ../*/secret.txt; find / -name secret.txt 2>/dev/null; echo done`,
    );
    expect(b.stdout).toContain('done');
    expect(b.stdout + b.stderr).not.toContain(marker);
    // A's secret was there all along: A reads it back after B's attempt
    expect((await a).stdout).toContain(marker);
  }, 120_000);

  it("attack: reach the API, the agent and another lease's port over 127.0.0.1", async () => {
    // Lease A serves on its port until told to go (or 100 s); B tries it, the API and every other
    // loopback port it can guess.
    const a = rent(
      `node -e "require('http').createServer((q,s)=>{s.end('lease-a');if(q.url==='/bye')process.exit(0)}).listen(process.env.AETHIR_PORT,'127.0.0.1');setTimeout(()=>process.exit(0),100000)"`,
      ['--max-duration', '2m'],
    );
    const loopbackPorts = (): string[] =>
      execFileSync('ss', ['-Hltn'], { encoding: 'utf8' })
        .split('\n')
        .map((l) => /127\.0\.0\.1:(\d+)/.exec(l)?.[1])
        .filter((p): p is string => Boolean(p));
    const answer = (p: string, path = '/') =>
      fetch(`http://127.0.0.1:${p}${path}`, { signal: AbortSignal.timeout(2000) })
        .then((r) => r.text())
        .catch(() => '');
    // A's port, once its server answers from the host (it is there, just not for B)
    const aPort = await waitFor(
      async () => {
        for (const p of loopbackPorts()) if ((await answer(p)) === 'lease-a') return p;
        return undefined;
      },
      60_000,
      "lease A's server",
    );
    const probeScript = [
      "const net=require('net');",
      `const ports=[${apiPort},4222,5432,6379,...process.argv.slice(1).map(Number)];`,
      'let n=ports.length;',
      'for (const p of ports){const s=net.connect(p,"127.0.0.1");',
      's.on("connect",()=>{console.log("OPEN",p);s.destroy();if(!--n)process.exit(0)});',
      's.on("error",(e)=>{console.log("CLOSED",p,e.code);if(!--n)process.exit(0)});}',
    ].join('');
    // The lease ports the proxy handed out are on the host's loopback: B tries them all, A's too.
    const listening = loopbackPorts();
    expect(listening).toContain(aPort);
    const b = await cli(['rent', '--', 'node', '-e', probeScript, ...listening], env, {
      timeoutMs: 90_000,
    });
    expect(b.code).toBe(0);
    expect(b.stdout).toMatch(/CLOSED/);
    expect(b.stdout).not.toMatch(/OPEN/);
    // A still serves: B's attempts reached nothing, not a server that was gone
    expect(await answer(aPort)).toBe('lease-a');
    await answer(aPort, '/bye');
    expect((await a).code).toBe(0);
  }, 120_000);

  it('attack: signal the agent and read its environment through /proc', async () => {
    const r = await rent(
      `kill -0 ${devnetPid}; echo "kill=$?"; cat /proc/${devnetPid}/environ; echo "environ=$?"; ` +
        `ls /proc | grep -c '^[0-9]'; echo done`,
    );
    expect(r.stdout).toContain('kill=1');
    expect(r.stdout).toContain('environ=1');
    // only the sandbox's own few processes are visible
    const visible = Number(/^(\d+)$/m.exec(r.stdout)?.[1]);
    expect(visible).toBeLessThan(10);
    expect(r.stdout + r.stderr).not.toContain('AETHIR_HOME=');
  }, 120_000);

  it('attack: outlive the lease with setsid (everything it forked ends with it)', async () => {
    const tag = `4242${Date.now() % 1000}`;
    const r = await rent(`setsid sleep ${tag} & (setsid nohup sleep ${tag} >/dev/null 2>&1 &); echo started`);
    expect(r.stdout).toContain('started');
    expect(r.code).toBe(0);
    expect(hostProcesses(`sleep ${tag}`)).toEqual([]);
  }, 120_000);

  it('attack: fork bomb (stopped by the pids limit; the node keeps answering)', async () => {
    const bomb = rent('f(){ f | f & }; f; sleep 8', ['--max-duration', '15s']);
    await new Promise((r) => setTimeout(r, 4000));
    // the node answers while the bomb runs
    const health = await fetch(`${devnet.url}/health`);
    expect(health.status).toBe(200);
    const r = await bomb;
    expect(r.stdout + r.stderr).toMatch(/lease \S+ closed/);
    // nothing of it is left on the host: no live process in its cgroup (its network helper
    // included; zombies waiting for the host's init to reap them are dead). Other e2e files run
    // sandboxed leases at the same time, so the lease's own cgroup tells its processes apart.
    const lease = /lease (\S+) opened/.exec(r.stdout + r.stderr)![1]!;
    const left = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .flatMap((pid) => {
        try {
          const cg = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
          const state = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
          return cg.includes(`aethir-lease-${lease}`) && state !== 'Z' ? [pid] : [];
        } catch {
          return []; // it ended while we looked
        }
      });
    expect(left, r.stdout + r.stderr).toEqual([]);
  }, 120_000);

  it('attack: allocate past the memory limit (killed, reason in words, agent alive)', async () => {
    const r = await cli(
      ['rent', '--', 'node', '-e', 'const a=[];for(;;){a.push(Buffer.alloc(16<<20).fill(1))}'],
      env,
      { timeoutMs: 90_000 },
    );
    expect(r.stdout + r.stderr).toContain(`memory limit of ${LEASE_MEMORY_MIB} MiB exceeded`);
    const health = await fetch(`${devnet.url}/health`);
    expect(health.status).toBe(200);
  }, 120_000);
});
