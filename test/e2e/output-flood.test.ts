import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, startDevnet, tempHome, type DevnetProcess } from './helpers.js';

const MiB = 1024 * 1024;
const FLOOD_BYTES = 200_000_000;

/** The resident set of a process, from /proc (bytes). */
function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/**
 * A tenant's workload that prints 200 MB must not grow the node that runs it: the agent keeps a
 * bounded ring of each lease's output (and a size-capped log file), the log hub keeps the last
 * MiB, and a slow reader is skipped ahead rather than buffered for.
 */
describe('a workload flooding its output', () => {
  const home = tempHome();
  const env = { AETHIR_HOME: home };
  let net: DevnetProcess;

  beforeAll(async () => {
    net = await startDevnet(['--data', join(home, 'devnet'), '--demo-containers', '0'], env);
  });
  afterAll(async () => {
    await net?.stop();
  });

  it('prints 200 MB through rent while the devnet grows by less than 50 MiB, during and after; the log file stops at 64 MiB', async () => {
    const pid = net.child.pid!;
    // Warm up (first lease: JIT, routes, the ledger's caches) so the baseline is the node at rest.
    const warm = spawn(process.execPath, [BIN, 'rent', '--', 'echo', 'warm'], {
      cwd: ROOT,
      env: { ...process.env, ...env, AETHIR_API: net.url },
    });
    await new Promise((r) => warm.on('close', r));
    const before = rssOf(pid);

    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 100);
    const line = '0123456789abcdefghijklmnopqrstuvwxyz'.repeat(3);
    const rent = spawn(
      process.execPath,
      [BIN, 'rent', '--', 'sh', '-c', `yes ${line} | head -c ${FLOOD_BYTES}; echo; echo flood-done`],
      { cwd: ROOT, env: { ...process.env, ...env, AETHIR_API: net.url } },
    );
    // The client's copy is counted, not kept: this test must not grow itself either.
    let received = 0;
    let tail = '';
    rent.stdout.on('data', (d: Buffer) => {
      received += d.length;
      tail = (tail + d.toString('utf8')).slice(-4096);
    });
    let stderr = '';
    rent.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-4096)));
    const code = await new Promise<number | null>((r) => rent.on('close', r));
    clearInterval(sampler);
    // Let the node settle (timers, sockets closed), then measure again.
    await new Promise((r) => setTimeout(r, 3000));
    const after = rssOf(pid);
    const report = `rss before ${(before / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB, after ${(after / MiB).toFixed(0)} MiB; client got ${(received / MiB).toFixed(0)} MiB`;
    console.log(`output flood: ${report}`);

    expect(code, stderr).toBe(0);
    expect(tail.endsWith('flood-done\n'), tail.slice(-200)).toBe(true);
    expect(peak - before, report).toBeLessThan(50 * MiB);
    expect(after - before, report).toBeLessThan(50 * MiB);

    // The whole output up to the cap is on disk, private, and says where it stopped.
    const logs = join(home, 'devnet', 'logs');
    const flood = readdirSync(logs)
      .map((f) => join(logs, f))
      .find((f) => statSync(f).size > MiB)!;
    // one JSON event a line (output-file.ts): the output up to the cap, the line saying so, the exit
    const full = `\n[aethir] log file full at ${64 * MiB} bytes: the rest is not kept\n`;
    const size = statSync(flood).size;
    expect(size).toBeGreaterThan(64 * MiB - 64 * 1024);
    expect(size).toBeLessThan(64 * MiB + 1024);
    const end = Buffer.alloc(4096);
    const fd = openSync(flood, 'r');
    readSync(fd, end, 0, end.length, size - end.length);
    closeSync(fd);
    const [marker, exit] = end
      .toString('utf8')
      .trimEnd()
      .split('\n')
      .slice(-2)
      .map((l) => JSON.parse(l));
    expect(marker).toMatchObject({ type: 'stderr', data: full });
    expect(exit).toMatchObject({ type: 'exit', exitCode: 0 });
    expect(statSync(flood).mode & 0o777).toBe(0o600);
  });
});
