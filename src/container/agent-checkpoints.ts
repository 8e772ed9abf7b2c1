import { cp, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Lease } from '../ledger/model.js';
import type { NetworkClient } from '../sdk/network.js';
import { checkpointDoor } from './checkpoint-door.js';
import type { EndpointProxy } from './endpoint-proxy.js';
import type { LeaseAccessTarget } from './lease-access.js';

const ID = /^[A-Za-z0-9_-]{1,64}$/;

/** How long a resuming lease waits for its user's client to bring the checkpoint from another host. */
export const DEFAULT_CHECKPOINT_WAIT_MS = 60_000;

const isDir = (p: string) =>
  stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );

/**
 * Interruptible leases' checkpoint directories on one host, `<base>/<lease>` (the workload's
 * $AETHIR_CHECKPOINT_DIR, made writable for it by the runtime): made for each interruptible
 * lease, kept after it ends for params.checkpointKeepMs (absent on the network: kept until the
 * host removes them), served meanwhile to the lease's user (checkpoint-door.ts), and filled for a
 * lease that resumes one: copied here when it was kept here, else uploaded by the user's client
 * before the lease's command starts.
 */
export class AgentCheckpoints {
  constructor(
    private readonly base: string,
    private readonly o: {
      id: string;
      network: NetworkClient;
      endpoints?: EndpointProxy | undefined;
      chainId: () => string | null;
      now: () => number;
      /** params.checkpointKeepMs now */
      keepMs: () => number | undefined;
      waitMs?: number;
      log?: ((line: string) => void) | undefined;
    },
  ) {}

  path(lease: string): string | undefined {
    return ID.test(lease) ? join(this.base, lease) : undefined;
  }

  /**
   * The checkpoint directory of an interruptible lease, made for it; a lease that resumes another
   * starts with that one's files: copied when they were kept here, else taken from its user's
   * client (`onWait` says it waits) within `waitMs`. None for other leases.
   */
  async prepare(lease: Lease, onWait?: (line: string) => void): Promise<string | undefined> {
    if (!lease.interruptible) return undefined;
    const dir = join(this.base, lease.id);
    try {
      await mkdir(this.base, { recursive: true, mode: 0o711 });
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const from = lease.resumes && ID.test(lease.resumes) ? lease.resumes : undefined;
      if (from) {
        const old = await this.o.network.lease(from).catch(() => undefined);
        if (!old || old.container === this.o.id) {
          if (await isDir(join(this.base, from)))
            await cp(join(this.base, from), dir, { recursive: true, force: true, errorOnExist: false });
        } else await this.receive(lease, dir, old.container, onWait);
      }
      return dir;
    } catch (e) {
      this.o.log?.(`lease ${lease.id}: no checkpoint directory (${(e as Error).message})`);
      return undefined;
    }
  }

  /** Opens the lease's upload door and waits for its user's client to fill `dir` (or the wait's end). */
  private async receive(
    lease: Lease,
    dir: string,
    from: string,
    onWait?: (line: string) => void,
  ): Promise<void> {
    const ep = this.o.endpoints;
    const chainId = this.o.chainId();
    if (!ep || !chainId) return;
    const waitMs = this.o.waitMs ?? DEFAULT_CHECKPOINT_WAIT_MS;
    let done: () => void = () => undefined;
    const arrived = new Promise<boolean>((resolve) => {
      done = () => resolve(true);
      setTimeout(() => resolve(false), waitMs).unref();
    });
    ep.door(
      lease.id,
      checkpointDoor({
        chainId,
        user: lease.user,
        leaseId: lease.id,
        dir,
        direction: 'upload',
        isOpen: async () => (await this.o.network.lease(lease.id))?.status === 'open',
        now: this.o.now,
        onUploaded: () => done(),
      }),
    );
    onWait?.(
      `aethir: waiting up to ${Math.round(waitMs / 1000)} s for the checkpoint of ${lease.resumes} (kept on ${from}) from your client\n`,
    );
    const ok = await arrived;
    ep.door(lease.id, null);
    onWait?.(
      ok
        ? `aethir: checkpoint of ${lease.resumes} copied in\n`
        : `aethir: no checkpoint arrived within ${Math.round(waitMs / 1000)} s: starting without it\n`,
    );
  }

  /**
   * The download door of a checkpoint kept here: an interruptible lease of this host that has
   * ended, within params.checkpointKeepMs of its end, its directory still here. Its user's token
   * is checked by the door (lease-access.ts).
   */
  async door(leaseId: string): Promise<LeaseAccessTarget | undefined> {
    const dir = this.path(leaseId);
    const chainId = this.o.chainId();
    if (!dir || !chainId || !(await isDir(dir))) return undefined;
    const kept = async () => {
      const l = await this.o.network.lease(leaseId);
      const keep = this.o.keepMs();
      return (
        !!l &&
        l.container === this.o.id &&
        l.interruptible === true &&
        l.status === 'closed' &&
        l.closedAt !== null &&
        keep !== undefined &&
        this.o.now() <= l.closedAt + keep
      );
    };
    const l = await this.o.network.lease(leaseId);
    if (!l || !(await kept())) return undefined;
    return checkpointDoor({
      chainId,
      user: l.user,
      leaseId,
      dir,
      direction: 'download',
      isOpen: kept,
      now: this.o.now,
    });
  }

  /** Removes the checkpoints of leases that ended more than params.checkpointKeepMs ago. */
  async sweep(): Promise<number> {
    const keep = this.o.keepMs();
    if (keep === undefined) return 0;
    let removed = 0;
    for (const name of await readdir(this.base).catch(() => [] as string[])) {
      if (!ID.test(name)) continue;
      const l = await this.o.network.lease(name).catch(() => undefined);
      if (!l || l.status !== 'closed' || l.closedAt === null || this.o.now() <= l.closedAt + keep) continue;
      await rm(join(this.base, name), { recursive: true, force: true });
      removed++;
      this.o.log?.(
        `checkpoint of lease ${name} removed: kept ${Math.round(keep / 60_000)} min after it ended`,
      );
    }
    return removed;
  }
}
