/**
 * The container agent's side of persistent volumes (docs/sdk.md "Volumes"): provisioning what the
 * ledger created on this host, freeing what it deleted, reporting a volume it can no longer
 * produce as lost (volume.lost: its owner refunded, this host slashed), settling volumes' charges,
 * attaching volumes to the leases that mount them (one writer at a time, stopped when full), and
 * the copy sessions of `aethir cp` into and out of a volume with no lease running.
 */
import { AethirError, isAethirError } from '../core/errors.js';
import { storageProof } from '../core/volume-proof.js';
import type { Lease } from '../ledger/model.js';
import type { Volume } from '../ledger/modules/volumes/queries.js';
import type { NetworkClient } from '../sdk/network.js';
import type { TxSender } from '../sdk/tx-sender.js';
import type { LeaseAccessTarget } from './lease-access.js';
import type { Runtime, RunningWorkload, WorkloadMount } from './runtimes/runtime.js';
import { VolumeLostError, type VolumeStore } from './volumes.js';

/** Where a copy session sees the volume (inside its sandbox). */
export const VOLUME_SESSION_ROOT = '/volume';
/** The longest one copy session into or out of a volume may run. */
const SESSION_SECONDS = 3600;

export interface AttachedVolumes {
  mounts: WorkloadMount[];
  /** calls `onFull(name, sizeMiB)` once when a volume the lease writes is full; returns the stop */
  watch(onFull: (message: string) => void): () => void;
  release(): Promise<void>;
}

export class AgentVolumes {
  private lost = new Set<string>();
  private reconciling = false;

  constructor(
    private readonly store: VolumeStore,
    private readonly self: string,
    private readonly network: NetworkClient,
    private readonly sender: Pick<TxSender, 'send'>,
    private readonly log: (line: string) => void = () => {},
    /** a live volume's copy door opens (`open`) and closes (null) with it */
    private readonly door: (v: Volume, open: boolean) => void = () => {},
  ) {}

  private async volumesHere(): Promise<Volume[]> {
    if (!this.network.volumesOn) return [];
    return this.network.volumesOn(this.self);
  }

  /**
   * Brings the disk in line with the ledger: live volumes exist and are mounted (a restarted agent
   * or a rebooted host remounts them), ended ones are freed, one whose image is gone is reported
   * lost. `live`: the leases still running here (their writer locks stay).
   */
  async reconcile(live?: ReadonlySet<string>): Promise<void> {
    if (this.reconciling) return;
    this.reconciling = true;
    try {
      if (live) await this.store.clearWriters(live);
      const vols = await this.volumesHere();
      const active = new Map(vols.filter((v) => v.status === 'active').map((v) => [v.id, v]));
      for (const v of active.values()) {
        await this.ensure(v).catch(() => undefined);
        this.door(v, !this.lost.has(v.id));
      }
      const known = new Map(vols.map((v) => [v.id, v]));
      for (const id of await this.store.list())
        if (known.has(id) && !active.has(id)) {
          this.door(known.get(id)!, false);
          await this.store.remove(id);
          this.log(`volume ${id} freed (${known.get(id)!.status} on the ledger)`);
        }
    } finally {
      this.reconciling = false;
    }
  }

  /** Mounts a live volume of this host; a lost one is reported to the ledger, then refused. */
  async ensure(v: Volume): Promise<string> {
    try {
      return await this.store.ensure({
        id: v.id,
        sizeMiB: v.sizeMiB,
        ...(v.seal !== undefined ? { seal: { container: this.self, iterations: v.seal } } : {}),
      });
    } catch (e) {
      if (e instanceof VolumeLostError && !this.lost.has(v.id)) {
        this.lost.add(v.id);
        this.log(`${e.message}: reporting it lost (its owner is refunded, this host slashed)`);
        await this.sender
          .send('volume.lost', { volume: v.id, reason: e.message.slice(0, 200) })
          .catch((err: unknown) =>
            this.log(`reporting volume ${v.id} lost failed: ${(err as Error).message}`),
          );
      }
      throw e;
    }
  }

  /**
   * The answer to a storage challenge: the proof over the asked canary blocks, read from the
   * volume's image. Only this host's live, proven volumes; an image that is gone is reported lost
   * (as on a mount) and the challenge is answered with the error.
   */
  async prove(volume: string, nonce: string, blocks: number[]): Promise<string> {
    const v = await this.network.volume?.(volume);
    if (!v || v.container !== this.self || v.status !== 'active' || v.seal === undefined)
      throw new AethirError('NOT_FOUND', `no proven volume ${volume} on this host`);
    try {
      return storageProof(this.self, v.id, nonce, blocks, await this.store.readCanaries(v.id, blocks));
    } catch (e) {
      if (e instanceof VolumeLostError) void this.ensure(v).catch(() => undefined);
      throw e;
    }
  }

  /** Charges every live volume here up to now (billing stops by itself while the host is down). */
  async settle(): Promise<void> {
    for (const v of await this.volumesHere().catch(() => [] as Volume[])) {
      if (v.status !== 'active') continue;
      await this.sender.send('volume.settle', { volume: v.id }).catch((e: unknown) => {
        if (!isAethirError(e) || e.code !== 'CONFLICT')
          this.log(`settling volume ${v.id} failed: ${(e as Error).message}`);
      });
    }
    void this.reconcile();
  }

  /** What a lease mounts: each volume checked against the ledger, mounted, its writer slot taken. */
  async attach(lease: Lease): Promise<AttachedVolumes | null> {
    const wanted = lease.workload.volumes ?? [];
    if (wanted.length === 0) return null;
    if (!this.network.volume)
      throw new AethirError('UNAVAILABLE', 'this host cannot read volumes from its network');
    const releases: Array<() => Promise<void>> = [];
    const mounts: WorkloadMount[] = [];
    const writing: Array<{ v: Volume; usedBefore: number }> = [];
    try {
      for (const m of wanted) {
        const v = await this.network.volume(m.volume);
        // the ledger checked these at lease.open; this host checks again what it will bind
        if (!v || v.owner !== lease.user || v.container !== this.self || v.status !== 'active')
          throw new AethirError(
            'NOT_FOUND',
            `volume ${m.volume} is not the lease user's live volume on this host`,
          );
        const source = await this.ensure(v);
        if (!m.readOnly) {
          releases.push(await this.store.takeWriter(v.id, lease.id));
          writing.push({ v, usedBefore: this.store.usedOr(v.id, Number.MAX_SAFE_INTEGER) });
        }
        mounts.push({ source, target: m.path, ...(m.readOnly ? { readOnly: true } : {}) });
      }
    } catch (e) {
      for (const r of releases) await r();
      throw e;
    }
    return {
      mounts,
      watch: (onFull) => {
        const stops = writing.map(({ v, usedBefore }) =>
          this.store.watchFull(
            v.id,
            () => onFull(`volume ${v.name} is full (its quota of ${v.sizeMiB} MiB)`),
            250,
            usedBefore,
          ),
        );
        return () => stops.forEach((s) => s());
      },
      release: async () => {
        for (const r of releases) await r();
      },
    };
  }

  /**
   * The door of a volume's copies (`aethir cp ./x data:path`): a lease token of the volume's owner
   * for the volume's id, scope files; each session runs a short workload in the runtime's
   * isolation with the volume at /volume, holding the volume's writer slot.
   */
  doorOf(v: Volume, runtime: Runtime, chainId: string, now: () => number): LeaseAccessTarget {
    return {
      chainId,
      user: v.owner,
      workload: () => null,
      isOpen: async () => (await this.network.volume?.(v.id))?.status === 'active',
      now,
      session: async () => {
        if (runtime.isolation !== 'sandbox')
          throw new AethirError(
            'UNAVAILABLE',
            'copies into a volume need a sandboxed host (--isolation sandbox)',
          );
        const source = await this.ensure(v);
        const session = `${v.id}-cp${now().toString(36)}`.slice(0, 64);
        const release = await this.store.takeWriter(v.id, session);
        let w: RunningWorkload;
        try {
          w = await runtime.start({
            leaseId: session,
            command: ['sleep', String(SESSION_SECONDS)],
            gpuIndices: [],
            mounts: [{ source, target: VOLUME_SESSION_ROOT }],
            limits: { wallSeconds: SESSION_SECONDS },
          });
        } catch (e) {
          await release();
          throw e;
        }
        const exec = w.exec!.bind(w);
        // every command of the session runs in the volume (paths are relative to its root)
        const inVolume: RunningWorkload = {
          leaseId: w.leaseId,
          pid: w.pid,
          workdir: w.workdir,
          events: () => w.events(),
          onEvent: (l) => w.onEvent(l),
          exited: w.exited,
          kill: (reason) => w.kill(reason),
          exec: (req) =>
            exec({
              ...req,
              command: [
                'sh',
                '-c',
                `cd ${VOLUME_SESSION_ROOT} && exec "$@"`,
                'aethir-volume',
                ...req.command,
              ],
            }),
        };
        return {
          w: inVolume,
          end: async () => {
            await w.kill('copy session ended');
            await release();
          },
        };
      },
    };
  }

  async stop(): Promise<void> {
    await this.store.unmountAll();
  }
}
