import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectInspector, type Inspector } from '../support/inspector.js';
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
 *
 * What the node keeps is measured through its inspector, after a full collection: heap and Buffers.
 * Its RSS (printed) also holds garbage V8 has not collected yet; how much depends on V8's heap
 * growing and the machine's load (+30 to +120 MiB for this flood on 2 busy cores), so it cannot
 * tell a leak from a late collection.
 */
describe('a workload flooding its output', () => {
  const home = tempHome();
  const env = { AETHIR_HOME: home };
  let net: DevnetProcess;
  let inspector: Inspector | undefined;

  beforeAll(async () => {
    net = await startDevnet(['--data', join(home, 'devnet'), '--demo-containers', '0'], env, 60_000, [
      '--inspect=127.0.0.1:0',
    ]);
    inspector = await connectInspector(net.stderr);
  });
  afterAll(async () => {
    inspector?.close();
    await net?.stop();
  });

  it('prints 200 MB through rent, its reader stalling midway, while the node keeps less than 16 MiB more, during and after; the log file stops at 64 MiB', async () => {
    const pid = net.child.pid!;
    // Warm up (first lease: JIT, routes, the ledger's caches) so the baseline is the node at rest.
    const warm = spawn(process.execPath, [BIN, 'rent', '--', 'echo', 'warm'], {
      cwd: ROOT,
      env: { ...process.env, ...env, AETHIR_API: net.url },
    });
    await new Promise((r) => warm.on('close', r));
    const before = await inspector!.retainedBytes();
    const rssBefore = rssOf(pid);

    let peak = rssBefore;
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
    let stalled: Promise<number> | undefined;
    let rentGrew = 0;
    rent.stdout.on('data', (d: Buffer) => {
      received += d.length;
      tail = (tail + d.toString('utf8')).slice(-4096);
      if (!stalled && received > 20 * MiB) {
        // The reader stops for 2 s: rent blocks on its stdout, the node's socket fills, and what
        // the workload prints meanwhile must be skipped, not queued for it. Measured while stalled.
        rent.stdout.pause();
        const rentBefore = rssOf(rent.pid!);
        stalled = new Promise((r) => setTimeout(r, 2000)).then(async () => {
          rentGrew = rssOf(rent.pid!) - rentBefore;
          const kept = await inspector!.retainedBytes();
          rent.stdout.resume();
          return kept;
        });
      }
    });
    let stderr = '';
    let skipped = 0;
    rent.stderr.on('data', (d: Buffer) => {
      // (a marker split between two chunks is found whole, and counted once: where it ends)
      const prev = stderr.slice(-200);
      const text = prev + d.toString('utf8');
      for (const m of text.matchAll(/\[aethir\] (\d+) bytes of output dropped here/g))
        if (m.index + m[0].length > prev.length) skipped += Number(m[1]);
      stderr = (stderr + d.toString('utf8')).slice(-4096);
    });
    const code = await new Promise<number | null>((r) => rent.on('close', r));
    clearInterval(sampler);
    // (a flood skipped whole before the reader had 20 MiB would leave nothing measured while stalled)
    const during = stalled ? await stalled : Number.NaN;
    const after = await inspector!.retainedBytes();
    const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
    const report = `kept before ${mib(before)}, while the reader stalled ${mib(during)}, after ${mib(after)}; rss before ${mib(rssBefore)}, peak ${mib(peak)}, after ${mib(rssOf(pid))}; client got ${mib(received)}; said ${mib(skipped)} skipped; rent grew ${mib(rentGrew)} while its reader stalled`;
    console.log(`output flood: ${report}`);

    expect(code, stderr).toBe(0);
    expect(stalled, `the reader never had 20 MiB to stall at: ${report}`).toBeDefined();
    expect(tail.endsWith('flood-done\n'), tail.slice(-200)).toBe(true);
    // rent waited for its reader rather than buffering (it grew by 200 MiB when it did not), and the
    // node skipped it ahead, saying so, rather than queueing for it
    expect(rentGrew, report).toBeLessThan(16 * MiB);
    expect(skipped, report).toBeGreaterThan(10 * MiB);
    expect(received, report).toBeLessThan(FLOOD_BYTES - 10 * MiB);
    expect(during - before, report).toBeLessThan(16 * MiB);
    expect(after - before, report).toBeLessThan(16 * MiB);

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
