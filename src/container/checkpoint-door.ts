/**
 * An interruptible lease's checkpoint directory as a files door (lease-access.ts, the protocol
 * of `aethir cp`), with no workload behind it: how `rent --resume` moves a checkpoint between
 * hosts (docs/sdk.md "interruptible"). The host that kept it serves it, after the lease ended and for
 * params.checkpointKeepMs, to a lease token its user signed for the old lease (download only);
 * the host of the resuming lease takes it, before the lease's command starts, from a token its
 * user signed for the new lease (upload). The user's client carries the archive between the two:
 * neither host sees a token for the other's lease, and each end checks every entry
 * (src/core/lease-files.ts).
 *
 * The tar runs on this host, as the agent, in the directory: the download stores links as links
 * (never followed) and the client checks what it gets; the upload is re-packed by safeTarStream
 * (no absolute paths, `..`, links out, devices) before tar sees it.
 */
import { spawnExec } from './runtimes/exec.js';
import type { LeaseAccessTarget } from './lease-access.js';
import type { RunningWorkload } from './runtimes/runtime.js';

export function checkpointDoor(o: {
  chainId: string;
  /** the lease's user: tokens must be signed by its key */
  user: string;
  leaseId: string;
  dir: string;
  /** 'download': the old host serves it; 'upload': the new host takes it */
  direction: 'download' | 'upload';
  /** whether the door is still open (asked for every session) */
  isOpen(): Promise<boolean>;
  now(): number;
  /** an upload was written whole (its tar exited 0): a failed or refused session is not one */
  onUploaded?(): void;
}): LeaseAccessTarget {
  const wants = o.direction === 'download' ? /^tar -c / : /^sh -c mkdir -p -- "\$1" && exec tar -x /;
  const w: RunningWorkload = {
    leaseId: o.leaseId,
    pid: undefined,
    workdir: o.dir,
    // eslint-disable-next-line require-yield
    events: async function* () {
      return;
    },
    onEvent: () => () => undefined,
    exited: new Promise(() => undefined),
    kill: async () => undefined,
    exec: async (req) => {
      // only the one direction this door serves: a checkpoint is never written on the old host
      // nor read back from the new one through it
      if (!wants.test(req.command.join(' ')))
        throw new Error(`this checkpoint door only serves ${o.direction}s`);
      const s = spawnExec(req.command, {
        cwd: o.dir,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' },
      });
      if (o.direction === 'upload')
        void s.exited.then((e) => {
          if (e.exitCode === 0) o.onUploaded?.();
        });
      return s;
    },
  };
  return {
    chainId: o.chainId,
    user: o.user,
    workload: () => null,
    isOpen: o.isOpen,
    now: o.now,
    session: async () => ({ w, end: async () => undefined }),
  };
}
