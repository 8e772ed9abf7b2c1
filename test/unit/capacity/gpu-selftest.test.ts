import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * scripts/gpu-selftest.sh on a machine without an NVIDIA GPU (this one, and CI): it must say so
 * and exit 2, never hang or pretend. The measuring path needs a real GPU (docs/verification.md).
 */
const SCRIPT = new URL('../../../scripts/gpu-selftest.sh', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'aethir-gpu-selftest-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A directory holding only a fake nvidia-smi that prints `out` and exits `code`, ahead of /usr/bin:/bin. */
function fakeSmi(name: string, out: string, code: number): string {
  const bin = join(dir, name);
  spawnSync('mkdir', ['-p', bin]);
  const file = join(bin, 'nvidia-smi');
  writeFileSync(file, `#!/bin/sh\nprintf '%s\\n' ${JSON.stringify(out)}\nexit ${code}\n`);
  chmodSync(file, 0o755);
  return `${bin}:/usr/bin:/bin`;
}

const run = (path: string, args: string[] = []) =>
  spawnSync('bash', [SCRIPT, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, PATH: path },
  });

describe('scripts/gpu-selftest.sh without a GPU', () => {
  it('no nvidia-smi: says there is no NVIDIA GPU and exits 2', () => {
    const r = run('/usr/bin:/bin');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('gpu-selftest: no NVIDIA GPU here: nvidia-smi is not on PATH');
    expect(r.stdout).toBe('');
  });

  it('an nvidia-smi that finds no device: says so and exits 2', () => {
    const r = run(fakeSmi('none', 'No devices were found', 6));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(
      'gpu-selftest: no NVIDIA GPU here: nvidia-smi lists none (No devices were found)',
    );
  });

  it('a GPU but no PyTorch that sees CUDA (this machine’s CPU torch): says which and exits 2', () => {
    const r = run(fakeSmi('h100', 'NVIDIA H100 80GB HBM3, 81559', 0), ['--python', '/usr/bin/python3']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(
      'gpu-selftest: found NVIDIA H100 80GB HBM3 (81559 MiB), but /usr/bin/python3 has no PyTorch that sees a CUDA device',
    );
  });

  it('refuses an unreadable memory figure and an unknown option', () => {
    const bad = run(fakeSmi('bad', 'NVIDIA H100 80GB HBM3, [N/A]', 0));
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain(
      'cannot read the memory of "NVIDIA H100 80GB HBM3" from nvidia-smi (got "[N/A]")',
    );
    const opt = run('/usr/bin:/bin', ['--frobnicate']);
    expect(opt.status).toBe(64);
    expect(opt.stderr).toContain('unknown option --frobnicate');
  });

  const torchPython = ['python3', '/usr/bin/python3'].find(
    (py) => spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 }).status === 0,
  );
  it.runIf(torchPython)(
    '--device cpu: runs the real prover through every phase at a tiny size and prints measured, modeled and the margins against each class below',
    () => {
      const path = process.env.PATH ?? '/usr/bin:/bin';
      const text = run(path, ['--device', 'cpu', '--python', torchPython!]);
      expect(text.status, text.stderr).toBe(0);
      expect(text.stdout).toContain('--device cpu: the prover runs on the CPU at a tiny size');
      expect(text.stdout).toMatch(/PASSED: .*3 products of n = 64 in \d+ ms of 600000 ms, 4 rows verified/);
      expect(text.stdout).toMatch(/\n {2}work +\d+ ms/);
      expect(text.stdout).toMatch(/rtx3090 at 105% of its peak \(modeled\): products in \d+ ms: margin/);
      expect(text.stdout).toMatch(
        /throughput proof: \d+\.\d% of this part's dense INT8 peak \(its deadline assumes 50\.0%; separating h100 from a100 by throughput needs \d+\.\d%\)/,
      );
      expect(text.stdout).not.toContain('WARNING'); // a CPU at a tiny size says nothing about a GPU's share
      expect(text.stdout).toContain(
        'class h100, sized for NVIDIA H100 SXM5 80GB (the class’s reference part)',
      );
      // scripts/gpu-selftest.ts itself, at --device cpu, for a model the .sh would read from nvidia-smi
      const selftest = (args: string[]) =>
        spawnSync(
          process.execPath,
          [
            '--import',
            'tsx',
            'scripts/gpu-selftest.ts',
            ...args,
            '--python',
            torchPython!,
            '--device',
            'cpu',
          ],
          { encoding: 'utf8', timeout: 60_000, cwd: new URL('../../../', import.meta.url).pathname },
        );
      // a part below its class's reference part is timed against its own figures (classes.ts MODEL_SPECS)
      const l4 = selftest(['--model', 'NVIDIA L4', '--memory-mib', '22528']);
      expect(l4.status, l4.stderr).toBe(0);
      expect(l4.stdout).toContain('class l40s, sized for NVIDIA L4 (its own figures)');
      // a part without INT8 tensor cores: its share is of its FP32 peak (the stock prover's float32 fallback)
      const p4 = selftest(['--model', 'Tesla P4', '--memory-mib', '7611']);
      expect(p4.status, p4.stderr).toBe(0);
      expect(p4.stdout).toContain('class other, sized for NVIDIA Tesla P4 (its own figures)');
      // a GPU its driver calls "Graphics Device" is named from its PCI device ID (gpu-names.ts)
      const unnamed = selftest([
        '--model',
        'Graphics Device',
        '--memory-mib',
        '5912',
        '--pci-device-id',
        '0x218410DE',
      ]);
      expect(unnamed.status, unnamed.stderr).toBe(0);
      expect(unnamed.stdout).toContain('class other, sized for NVIDIA GeForce GTX 1660 (its own figures)');
      expect(unnamed.stdout).toContain(
        'nvidia-smi calls it "Graphics Device": named from its PCI device ID 0x218410DE',
      );
      expect(p4.stdout).toMatch(/of this part's FP32 peak \(its stock prover runs the float32 fallback\)/);
      const json = run(path, ['--device', 'cpu', '--python', torchPython!, '--json']);
      expect(json.status, json.stderr).toBe(0);
      const out = JSON.parse(json.stdout);
      expect(out).toMatchObject({ ok: true, code: 'passed', gpuClass: 'h100', device: 'cpu' });
      expect(out.measured.workMs).toBeGreaterThanOrEqual(0);
      expect(out.workEfficiencyAssumed).toBe(0.5);
      expect(out.workEfficiencyNeeded).toBeGreaterThan(0.3);
      expect(out.workEfficiencyNeeded).toBeLessThan(0.5);
      expect(out.workBelow.map((b: { gpuClass: string }) => b.gpuClass)).toEqual([
        'a100',
        'l40s',
        'rtx4090',
        'rtx3090',
        'other',
      ]);
      const bad = run(path, ['--device', 'tpu']);
      expect(bad.status).toBe(64);
      expect(bad.stderr).toContain('--device must be cuda or cpu, not tpu');
    },
    120_000,
  );
  it.skipIf(torchPython)('--device cpu (skipped: no python imports torch)', () => {});
});
