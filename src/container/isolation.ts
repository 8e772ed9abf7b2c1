import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AethirError } from '../core/errors.js';
import { HostProcessRuntime } from './runtimes/host-process.js';
import {
  aethirPackagePaths,
  defaultLeaseDir,
  describeMissing,
  probeSandbox,
  type SandboxOptions,
} from './runtimes/sandbox.js';

/** The aethir package this code runs from (a checkout, or an installed package). */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Where a host installs apps: beside its sandboxed leases (lease uids must be able to read them;
 * the private data directory they cannot even enter), else in its data directory.
 */
export function appsDirOf(runtime: HostProcessRuntime, dataDir: string): string {
  return runtime.isolation === 'sandbox' ? `${runtime.baseDir}-apps` : join(dataDir, 'apps');
}

/**
 * Where interruptible leases keep their checkpoints: beside the sandbox's base directory where
 * workloads are sandboxed (the lease uids must reach it), else in the agent's data directory.
 */
export function checkpointsDirOf(runtime: HostProcessRuntime, dataDir: string): string {
  return runtime.isolation === 'sandbox' ? `${runtime.baseDir}-checkpoints` : join(dataDir, 'checkpoints');
}

/** How a host isolates its tenants: `auto` sandboxes where the machine can, and says why not otherwise. */
export type IsolationChoice = 'sandbox' | 'none' | 'auto';

export const ISOLATION_CHOICES: readonly IsolationChoice[] = ['sandbox', 'none', 'auto'];

/**
 * The host-process runtime with the isolation asked for. `sandbox` refuses, naming what the machine
 * lacks and how to enable it, where the lease sandbox cannot run; `none` is the operator's explicit
 * choice (registered on the ledger, so users can avoid this host); `auto` (the devnet's default)
 * falls back to `none` with a warning.
 */
export async function hostProcessRuntime(opts: {
  isolation: IsolationChoice;
  dataDir: string;
  /** where sandboxed leases' directories go (default /var/lib/aethir/leases/<hash of dataDir>) */
  leaseDir?: string;
  now: () => number;
  log?: (msg: string) => void;
  /** what the sandbox is probed with (tests name a missing tool) */
  sandboxOptions?: SandboxOptions;
}): Promise<HostProcessRuntime> {
  const plain = () => new HostProcessRuntime({ baseDir: join(opts.dataDir, 'workloads'), now: opts.now });
  if (opts.isolation === 'none') {
    opts.log?.('isolation none: workloads run as plain processes of this user (registered: users see it)');
    return plain();
  }
  const probe = await probeSandbox(opts.sandboxOptions);
  if (!probe.ok) {
    const missing = describeMissing(probe.requirements);
    if (opts.isolation === 'auto') {
      opts.log?.(`WARNING: workloads are NOT sandboxed (${missing}); this host registers isolation none`);
      return plain();
    }
    throw new AethirError(
      'UNAVAILABLE',
      `the lease sandbox cannot run on this machine: ${missing}. Fix that, or start with --isolation none (registered on the network: users see that this host does not sandbox workloads)`,
    );
  }
  const baseDir = opts.leaseDir ?? defaultLeaseDir(opts.dataDir);
  opts.log?.(`isolation sandbox: every lease runs as its own uid in ${baseDir} (bubblewrap, cgroups, pasta)`);
  return new HostProcessRuntime({
    baseDir,
    now: opts.now,
    sandbox: probe.setup,
    // leases may run the aethir CLI (a game session's host is `aethir game serve`)
    sharedReadOnly: aethirPackagePaths(PACKAGE_ROOT),
  });
}
