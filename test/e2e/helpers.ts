import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, type Clock, type Config } from '../../src/core/index.js';
import type { ProbeResult } from '../../src/container/index.js';
import { Keystore, startDevnetNode, type DevnetOptions, type RunningNode } from '../../src/node/index.js';
import { signTx, type Params } from '../../src/ledger/index.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(ROOT, 'bin/aethir.js');

export { tempHome } from '../support/temp-homes.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI in a child process, exactly as a user would (through bin/aethir.js). */
export function cli(
  args: string[],
  env: Record<string, string>,
  opts: { timeoutMs?: number; viaNpx?: boolean } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    // viaNpx: literally `npx aethir ...` in the checkout, as the README tells users to.
    const [cmd, argv] = opts.viaNpx ? ['npx', ['aethir', ...args]] : [process.execPath, [BIN, ...args]];
    const child = spawn(cmd, argv, { cwd: ROOT, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`aethir ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface DevnetProcess {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `aethir devnet` in a child process and resolves with its URL once it says it is running;
 * `nodeArgs` go to node before the script (`--inspect=127.0.0.1:0`).
 */
export function startDevnet(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 60_000,
  nodeArgs: string[] = [],
): Promise<DevnetProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, BIN, 'devnet', '--port', '0', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
    });
    let out = '';
    let err = '';
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`devnet did not start in time\nstdout: ${out}\nstderr: ${err}`));
    }, timeoutMs);
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', (d) => {
      out += d;
      const m = /Dashboard:\s+(http:\/\/[^\s/]+)\//.exec(out);
      if (m) {
        clearTimeout(t);
        resolve({
          child,
          url: m[1]!,
          stdout: () => out,
          stderr: () => err,
          stop: async (signal = 'SIGINT') => {
            if (child.exitCode !== null) return child.exitCode;
            child.kill(signal);
            return exited;
          },
        });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`devnet exited with ${code} before it was ready\nstdout: ${out}\nstderr: ${err}`));
    });
  });
}

export async function waitFor<T>(
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A devnet in this process (any free port, data under `home`), for tests that reach inside it. */
export function startInProcessDevnet(
  home: string,
  flags: Partial<Record<keyof Config, unknown>> = {},
  clock?: Clock,
): Promise<RunningNode> {
  const config = loadConfig({
    env: { AETHIR_HOME: home },
    flags: { port: 0, dataDir: join(home, 'devnet'), ...flags },
  });
  return startDevnetNode({ config, clock });
}

/** Changes an in-process devnet's parameters at once with its governance key (`params.update`). */
export function setParams(
  node: RunningNode,
  home: string,
  changes: Partial<Record<keyof Params, unknown>>,
): void {
  const d = node.devnet;
  const governance = new Keystore(join(home, 'devnet', 'keys')).load('governance');
  d.chain.submit(
    signTx(governance, d.chain.chainId, 'params.update', d.chain.ledger.account(governance.address).nonce, {
      changes,
    }),
  );
}

/**
 * A devnet in this process whose checkers run on shortened cadences and a small capacity challenge
 * (`startDevnetNode`'s test hooks), with its own container probed as a plain CPU host whatever this
 * machine has (no nvidia-smi run, the same spec on every machine).
 */
export function startCheckedDevnet(
  home: string,
  flags: Partial<Record<keyof Config, unknown>>,
  opts: Pick<DevnetOptions, 'cadence' | 'capacity'> & { log?: (line: string) => void },
): Promise<RunningNode> {
  const config = loadConfig({
    env: { AETHIR_HOME: home },
    flags: { port: 0, dataDir: join(home, 'devnet'), ...flags },
  });
  return startDevnetNode({
    config,
    ...opts,
    probe: async () => cpuOnlyProbe(),
  });
}

/** A probe result for a CPU-only host (4 cores, 8 GiB), as `probeHardware` reports one. */
export function cpuOnlyProbe(): ProbeResult {
  return {
    spec: {
      cpu: { model: 'test CPU', cores: 4, arch: 'x64' },
      memoryMiB: 8192,
      os: { platform: 'linux', release: 'test', hostname: 'cheaters-test' },
      gpus: [],
    },
    gpuProbe: { gpus: [], status: 'no-nvidia-smi' },
    warnings: [],
  };
}
