import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hostProcessRuntime } from '../../../src/container/isolation.js';

const dir = mkdtempSync(join(tmpdir(), 'aethir-isolation-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const now = () => 0;
const missing = { tools: { bwrap: join(dir, 'no-bwrap'), pasta: join(dir, 'no-pasta') } };

describe('choosing a host runtime by isolation', () => {
  it('sandbox on a machine that lacks what it needs: refused, naming each missing piece and the way out', async () => {
    const err = await hostProcessRuntime({
      isolation: 'sandbox',
      dataDir: dir,
      now,
      sandboxOptions: missing,
    }).catch((e: Error & { code?: string }) => e);
    expect(err).toBeInstanceOf(Error);
    const e = err as Error & { code?: string };
    expect(e.code).toBe('UNAVAILABLE');
    expect(e.message).toContain('bwrap: bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)');
    expect(e.message).toContain('pasta: pasta is not installed (Debian/Ubuntu: apt-get install passt)');
    expect(e.message).toContain('or start with --isolation none');
  });

  it('auto falls back to plain processes, says so, and the runtime reports isolation none', async () => {
    const said: string[] = [];
    const rt = await hostProcessRuntime({
      isolation: 'auto',
      dataDir: dir,
      now,
      log: (m) => said.push(m),
      sandboxOptions: missing,
    });
    expect(rt.isolation).toBe('none');
    expect(rt.baseDir).toBe(join(dir, 'workloads'));
    expect(said.join('\n')).toMatch(
      /WARNING: workloads are NOT sandboxed \(bwrap: .*\); this host registers isolation none/,
    );
  });

  it('none is the operator choice, whatever the machine could do', async () => {
    const rt = await hostProcessRuntime({ isolation: 'none', dataDir: dir, now });
    expect(rt.isolation).toBe('none');
  });
});
