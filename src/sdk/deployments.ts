import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { AethirError, isAethirError } from '../core/errors.js';
import type { KeyPair } from '../core/keys.js';
import { PRIVATE_FILE_MODE, ensurePrivateDir, tightenPrivateFile } from '../core/private-files.js';
import type { ApiClient, ContainerView, LeaseView, VolumeView } from './client.js';
import { defaultIsolation } from '../indexer/query.js';
import type { Workload } from '../ledger/modules/leases/payloads.js';
import { Renter, type OpenedLease } from './renter.js';
import { sealedEnvFor } from './sealed-env.js';
import { sdlEnvOf, type DeploymentPlan, type GpuChoice, type ServicePlan } from './sdl.js';
import { TxSender } from './tx-sender.js';
import { chooseVolumeHost, createVolume, volumeRoomMiB } from './volumes.js';

/**
 * A deployment: a named group of leases opened together (from an Akash SDL), recorded on the
 * client in $AETHIR_HOME/deployments/<name>.json (0600): lease ids, containers, the network.
 * No env values or other secrets are written.
 */

export const DEPLOYMENT_NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** A persistent volume (SDL `attributes.persistent: true`) a lease of the deployment mounts: an Aethir volume. */
const DeployedVolume = z.object({
  /** the SDL's volume name (profiles.compute.P.resources.storage[].name) */
  name: z.string(),
  /** the Aethir volume: id and name (its owner's, e.g. web-db-0-data) */
  volume: z.string(),
  volumeName: z.string(),
  mount: z.string(),
  sizeMiB: z.number().int(),
  /** created by this deploy (false: an earlier deploy's, reused) */
  created: z.boolean(),
});
export type DeployedVolume = z.infer<typeof DeployedVolume>;

const DeployedLease = z.object({
  service: z.string(),
  placement: z.string(),
  /** 0-based instance of the service in its placement (count > 1) */
  index: z.number().int().min(0),
  lease: z.string(),
  container: z.string(),
  containerName: z.string(),
  gpus: z.number().int().min(0),
  /** its persistent volumes (absent in records written before volumes) */
  volumes: z.array(DeployedVolume).optional(),
});
export type DeployedLease = z.infer<typeof DeployedLease>;

const DeploymentRecord = z.object({
  name: z.string().regex(DEPLOYMENT_NAME_RE),
  createdAt: z.number().int(),
  /** the SDL it came from: path as given, sha256 of its text */
  source: z.object({ file: z.string(), sha256: z.string() }),
  chainId: z.string(),
  /** the paying account */
  user: z.string(),
  leases: z.array(DeployedLease),
  /** when `deployments close` ended it (or a failed deploy rolled it back) */
  closedAt: z.number().int().nullable(),
});
export type DeploymentRecord = z.infer<typeof DeploymentRecord>;

/** Deployment records in one folder, one JSON file each. */
export class DeploymentStore {
  constructor(readonly dir: string) {}

  private path(name: string): string {
    if (!DEPLOYMENT_NAME_RE.test(name))
      throw new AethirError(
        'INVALID_ARGUMENT',
        `"${name.slice(0, 80)}" is not a deployment name (lower-case letters, digits and -, up to 63)`,
      );
    return join(this.dir, `${name}.json`);
  }

  has(name: string): boolean {
    return existsSync(this.path(name));
  }

  get(name: string): DeploymentRecord {
    const file = this.path(name);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      throw new AethirError('NOT_FOUND', `no deployment named ${name} (aethir deployments ls lists them)`);
    }
    const parsed = DeploymentRecord.safeParse(safeJson(text));
    if (!parsed.success || parsed.data.name !== name)
      throw new AethirError('STORE_CORRUPT', `${file} is not a deployment record`);
    return parsed.data;
  }

  list(): DeploymentRecord[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.json') && DEPLOYMENT_NAME_RE.test(f.slice(0, -5)))
      .map((f) => this.get(f.slice(0, -5)))
      .sort((a, b) => a.createdAt - b.createdAt || a.name.localeCompare(b.name));
  }

  /** Writes the record whole (a temporary file renamed over the old one), 0600 in a 0700 folder. */
  save(record: DeploymentRecord): void {
    const file = this.path(record.name);
    ensurePrivateDir(this.dir);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(DeploymentRecord.parse(record), null, 2) + '\n', {
      mode: PRIVATE_FILE_MODE,
    });
    tightenPrivateFile(tmp);
    renameSync(tmp, file);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The Aethir volume name of a deployment's persistent volume: `<deployment>-<service>-<index>-<volume>-<hash>`
 * (index: the service's lease, 0-based; hash: 12 hex of the four parts, so "a-b"+"c" and
 * "a"+"b-c" never share a volume), the same on every deploy of the deployment's name, so a
 * redeploy finds and mounts the volume the last one wrote. Long parts are cut; the hash keeps it unique.
 */
export function deploymentVolumeName(
  deployment: string,
  service: string,
  index: number,
  volume: string,
): string {
  const hash = createHash('sha256')
    .update(JSON.stringify([deployment, service, index, volume]))
    .digest('hex');
  const stem = `${deployment}-${service}-${index}-${volume}`
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .slice(0, 50)
    .replace(/^[-_]+/, '');
  return `${stem}${stem.endsWith('-') || !stem ? '' : '-'}${hash.slice(0, 12)}`;
}

/** What a planned service runs on a lease, env aside (an image and command, or a command on the host-process runtime). */
export type LeaseWorkload = Omit<Workload, 'env' | 'sealedEnv'>;

export interface DeployInput {
  api: ApiClient;
  key: KeyPair;
  plan: DeploymentPlan;
  store: DeploymentStore;
  name: string;
  source: { file: string; sha256: string };
  maxDurationSec: number;
  /** what a planned service runs on a lease */
  workloadFor: (s: ServicePlan) => LeaseWorkload;
  /** progress lines for humans */
  say?: (line: string) => void;
  /** now, for the record (ms) */
  now?: () => number;
}

/**
 * Brings a plan up, one lease at a time (service by service, in the SDL's order): each is matched
 * (a GPU choice at a time, in the SDL's order, on a host that registers the profile's CPU cores
 * and memory), opened and then detached: paid ahead for its maximum duration with one
 * pre-authorizing usage receipt (`Renter.detached`, as `rent --detach`), so it runs with no
 * client attached and is charged only for the time it runs. The record is saved after each lease.
 * If any lease cannot be matched or opened, the ones already opened are closed (charged for the
 * seconds they ran, the rest refunded) and the error says so.
 */
export async function deployPlan(i: DeployInput): Promise<DeploymentRecord> {
  const say = i.say ?? (() => undefined);
  // a closed deployment's name may be used again (its record is replaced)
  if (i.store.has(i.name) && i.store.get(i.name).closedAt === null)
    throw new AethirError(
      'CONFLICT',
      `a deployment named ${i.name} is active (aethir deployments close ${i.name}, or give --name)`,
    );
  const uncapped = i.plan.services.filter((s) => s.pricing.maxPricePerHour === null);
  if (uncapped.length)
    throw new AethirError(
      'INVALID_ARGUMENT',
      `no price cap for ${uncapped.map((s) => s.service).join(', ')} (plan with a rate or a max price); nothing was opened`,
    );
  // what each service runs is settled before the network is asked
  const workloads = new Map(i.plan.services.map((s) => [s, i.workloadFor(s)] as const));
  // A detached lease's pre-authorization is settled at once only when it reaches past the receipt
  // grace; a shorter lease would wait for a settlement that never comes.
  const { receiptGraceMs } = await i.api.params();
  if (i.maxDurationSec * 1000 <= receiptGraceMs)
    throw new AethirError(
      'INVALID_ARGUMENT',
      `a deployment's leases run detached, so each must be allowed longer than the receipt grace (${receiptGraceMs / 1000} s); give a longer --max-duration; nothing was opened`,
    );
  const renter = new Renter(i.api, i.key);
  // persistent volumes: an earlier deploy's are found by name (and must be big enough); new ones
  // must fit on some host. Checked before anything is opened.
  const found = new Map<string, VolumeView>();
  for (const s of i.plan.services)
    for (let index = 0; index < s.count; index++) {
      let newMiB = 0;
      for (const v of s.volumes.filter((x) => x.kind === 'persistent')) {
        const name = deploymentVolumeName(i.name, s.service, index, v.name);
        const at = `services.${s.service}.params.storage.${v.name}`;
        const [old] = await i.api.volumeViews({ owner: i.key.address, name, status: 'active' });
        if (!old) newMiB += v.sizeMiB!;
        else if (old.sizeMiB < v.sizeMiB!)
          throw new AethirError(
            'INVALID_ARGUMENT',
            `${at}: your volume ${name} from an earlier deploy holds ${old.sizeMiB} MiB, less than the ${v.sizeMiB} MiB asked (a volume does not grow: delete it, aethir volume delete ${name}, to start empty); nothing was opened`,
          );
        else found.set(name, old);
      }
      if (newMiB > 0)
        await chooseVolumeHost(i.api, { sizeMiB: newMiB }).catch((e: unknown) => {
          throw new AethirError(
            isAethirError(e) ? e.code : 'INTERNAL',
            `services.${s.service}: ${(e as Error).message} (its persistent volumes); nothing was opened`,
            { cause: e },
          );
        });
    }
  const record: DeploymentRecord = {
    name: i.name,
    createdAt: (i.now ?? Date.now)(),
    source: i.source,
    chainId: await renter.chainId(),
    user: i.key.address,
    leases: [],
    closedAt: null,
  };
  /** the endpoint of each opened service that others reach, and a token for it */
  const reached = new Map<string, { url: string; token: string }>();
  const created: VolumeView[] = [];
  for (const s of i.plan.services)
    for (let index = 0; index < s.count; index++) {
      const what = `${s.service}[${index}]`;
      try {
        const env: Record<string, string> = { ...sdlEnvOf(s) };
        for (const l of s.links) {
          const r = reached.get(l.service);
          if (!r)
            throw new AethirError('INTERNAL', `service ${l.service} was not opened before ${s.service}`);
          env[l.urlEnv] = r.url;
          env[l.tokenEnv] = r.token;
        }
        const volumes: DeployedVolume[] = [];
        const opened = await openOne(
          renter,
          s,
          workloads.get(s)!,
          env,
          i.maxDurationSec,
          { deployment: i.name, index, found, created, out: volumes },
          (l) => say(`${what}: ${l}`),
        );
        const c = opened.match.container;
        record.leases.push({
          service: s.service,
          placement: s.placement,
          index,
          lease: opened.lease,
          container: c.id,
          containerName: c.name,
          gpus: s.gpu.units,
          ...(volumes.length ? { volumes } : {}),
        });
        i.store.save(record);
        const d = await renter.detached(opened);
        say(`${what}: lease ${opened.lease} runs detached on ${c.name}`);
        if (i.plan.services.some((x) => x.links.some((l) => l.service === s.service))) {
          const base = (await i.api.leaseView(opened.lease))?.endpoint;
          if (!base)
            throw new AethirError(
              'CONTAINER_UNAVAILABLE',
              `${c.name} gives no endpoint for lease ${opened.lease}, so the services that reach ${s.service} cannot`,
            );
          // endpoint scope only: the host of the service that reaches it cannot open its logs or a shell
          reached.set(s.service, {
            url: base,
            token: await renter.token(opened.lease, {
              ttlMs: Math.max(0, d.endsAt - Date.now()) + 3_600_000,
              scope: ['endpoint'],
            }),
          });
        }
      } catch (e) {
        const closed = record.leases.length
          ? await closeDeployment(i.api, i.key, record, i.store, 'deploy failed: rolled back')
          : [];
        // volumes this deploy created hold nothing worth keeping; an earlier deploy's are kept
        const dropped: string[] = [];
        for (const v of created)
          await new TxSender(i.key, i.api)
            .send('volume.delete', { volume: v.id, reason: 'deploy failed: rolled back' })
            .then(() => dropped.push(v.name))
            .catch(() => undefined);
        throw new AethirError(
          isAethirError(e) ? e.code : 'INTERNAL',
          `${what}: ${(e as Error).message}; ` +
            (closed.length
              ? `the ${closed.length} lease${closed.length === 1 ? '' : 's'} opened were closed`
              : 'nothing was opened') +
            (dropped.length ? `; the volumes it created were deleted (${dropped.join(', ')})` : ''),
          { cause: e },
        );
      }
    }
  return record;
}

/** Where a lease's persistent volumes come from and go. */
interface VolumeContext {
  deployment: string;
  index: number;
  /** volumes of earlier deploys, by Aethir name */
  found: ReadonlyMap<string, VolumeView>;
  /** volumes this deploy created (for a rollback) */
  created: VolumeView[];
  /** this lease's volumes, filled in */
  out: DeployedVolume[];
}

/**
 * One lease of a planned service: the first GPU choice that matches (a NO_MATCH moves to the
 * next; nothing is opened until one matches), on a host that registers the profile's CPU cores
 * and memory (rounded up to whole cores and MiB), the env sealed to that host. With persistent
 * volumes: on the host of the volumes an earlier deploy left (as `rent --volume`), else the
 * volumes are created on the host matched, which must have room for them.
 */
async function openOne(
  renter: Renter,
  s: ServicePlan,
  workload: LeaseWorkload,
  env: Record<string, string>,
  maxDurationSec: number,
  vc: VolumeContext,
  say: (line: string) => void,
): Promise<OpenedLease> {
  const choices: Array<GpuChoice | null> = s.gpu.units > 0 ? s.gpu.choices : [null];
  const cap = BigInt(s.pricing.maxPricePerHour!);
  const wanted = s.volumes
    .filter((v) => v.kind === 'persistent')
    .map((v) => ({ v, name: deploymentVolumeName(vc.deployment, s.service, vc.index, v.name) }));
  const hosts = new Set(wanted.flatMap((w) => vc.found.get(w.name)?.container ?? []));
  if (hosts.size > 1)
    throw new AethirError(
      'CONFLICT',
      `its volumes ${wanted.map((w) => w.name).join(', ')} live on different hosts; a lease runs on one`,
    );
  const pinned = [...hosts][0];
  const volumesOn = async (c: ContainerView) => {
    const missing = wanted.filter((w) => !vc.found.has(w.name));
    const need = missing.reduce((n, w) => n + w.v.sizeMiB!, 0);
    if (need > 0) {
      const room = await volumeRoomMiB(renter.api, c);
      if (room < need)
        throw new AethirError(
          'NO_MATCH',
          `${c.name} ${c.volumeOffer ? `has room for ${room} MiB of volumes` : 'offers no volumes'}, ${need} MiB asked`,
        );
    }
    vc.out.length = 0;
    for (const w of wanted) {
      let v = vc.found.get(w.name);
      if (v) say(`mounts volume ${w.name} (${v.id}) from an earlier deploy at ${w.v.mount}`);
      else {
        v = (
          await createVolume(renter.api, renter.key, {
            name: w.name,
            sizeMiB: w.v.sizeMiB!,
            host: c.id,
            log: say,
          })
        ).volume;
        vc.created.push(v);
      }
      vc.out.push({
        name: w.v.name,
        volume: v.id,
        volumeName: w.name,
        mount: w.v.mount,
        sizeMiB: v.sizeMiB,
        created: !vc.found.has(w.name),
      });
    }
    return vc.out.map((d, k) => ({
      volume: d.volume,
      path: d.mount,
      ...(wanted[k]!.v.readOnly ? { readOnly: true } : {}),
    }));
  };
  let last: unknown;
  for (const choice of choices) {
    try {
      return await renter.open({
        request: {
          gpus: s.gpu.units,
          ...(choice?.models ? { gpuModels: choice.models } : {}),
          ...(choice?.minVramMiB ? { minVramMiB: choice.minVramMiB } : {}),
          ...(s.region ? { region: s.region } : {}),
          maxPricePerHour: cap.toString(),
          // an image runs on a Docker host; a lease's own port needs its own network (sandbox or Docker)
          ...(workload.image ? { image: workload.image } : {}),
          isolation: workload.port !== undefined || wanted.length ? 'sandbox' : defaultIsolation(s.gpu.units),
          minCpuCores: Math.ceil(s.cpu.millicores / 1000),
          minMemoryMiB: Number((BigInt(s.memoryBytes) + (1n << 20n) - 1n) >> 20n),
        },
        ...(pinned ? { container: pinned } : {}),
        maxDurationSec,
        maxPricePerHour: cap,
        onProgress: say,
        workload: async (c, chainId) => {
          const mounts = wanted.length ? await volumesOn(c) : [];
          return {
            ...workload,
            ...(mounts.length ? { volumes: mounts } : {}),
            ...(await sealedEnvFor(env, c, chainId, renter.key.address)),
          };
        },
      });
    } catch (e) {
      if (!(isAethirError(e) && e.code === 'NO_MATCH') || pinned) throw e;
      last = e;
    }
  }
  throw new AethirError('NO_MATCH', `no container matches (${(last as Error).message})`);
}

export interface ClosedLease extends DeployedLease {
  status: string;
  charged: string;
  refunded: string;
  reason: string | null;
}

/**
 * Ends every lease of a deployment that is still open (`lease.close` by its user, `Renter.stop`:
 * the host is paid for the time served, the rest of the escrow refunded), marks the record closed
 * and returns what each lease was charged and refunded.
 */
export async function closeDeployment(
  api: ApiClient,
  key: KeyPair,
  record: DeploymentRecord,
  store: DeploymentStore,
  reason = `deployment ${record.name} closed`,
): Promise<ClosedLease[]> {
  if (key.address !== record.user)
    throw new AethirError(
      'UNAUTHORIZED',
      `deployment ${record.name} was paid by ${record.user}; close it with that key (--key)`,
    );
  const renter = new Renter(api, key);
  const out: ClosedLease[] = [];
  for (const l of record.leases) {
    const v = await api.leaseView(l.lease);
    if (v?.status === 'open')
      try {
        const r = await renter.stop(l.lease, reason);
        out.push({
          ...l,
          status: 'closed',
          charged: r.charged.toString(),
          refunded: r.refund.toString(),
          reason,
        });
        continue;
      } catch (e) {
        // closed meanwhile (its workload exited, its host went down): read how it ended
        if (!(isAethirError(e) && e.code === 'CONFLICT')) throw e;
      }
    out.push(closedView(l, v?.status === 'open' ? await api.leaseView(l.lease) : v));
  }
  record.closedAt = Date.now();
  store.save(record);
  return out;
}

/** What became of one of a closed deployment's persistent volumes. */
export interface ClosedVolume extends DeployedVolume {
  service: string;
  index: number;
  /** kept: still yours, still billed; deleted: freed now; gone: deleted or lost before */
  status: 'kept' | 'deleted' | 'gone';
  charged: string | null;
  refunded: string | null;
}

/**
 * A closed deployment's persistent volumes: kept (they are persistent: a later deploy of the same
 * name mounts them again; billed per GiB-hour until deleted), or with `delete`, deleted: freed on
 * the host, their unused escrow refunded. Only the key's own volumes are touched (the record is a
 * file on this machine, not proof of anything). Run after the leases are closed (a volume mounted
 * by an open lease cannot be deleted).
 */
export async function closeDeploymentVolumes(
  api: ApiClient,
  key: KeyPair,
  record: DeploymentRecord,
  opts: { delete: boolean },
): Promise<ClosedVolume[]> {
  const out: ClosedVolume[] = [];
  const sender = new TxSender(key, api);
  for (const l of record.leases)
    for (const d of l.volumes ?? []) {
      const base = { ...d, service: l.service, index: l.index, charged: null, refunded: null };
      const v = await api.volumeView(d.volume);
      if (!v || v.owner !== key.address || v.status !== 'active') {
        out.push({ ...base, status: 'gone' });
        continue;
      }
      if (!opts.delete) {
        out.push({ ...base, status: 'kept' });
        continue;
      }
      const r = await sender.send('volume.delete', {
        volume: v.id,
        reason: `deployment ${record.name} closed`,
      });
      out.push({
        ...base,
        status: 'deleted',
        charged: String(r.result.charged),
        refunded: String(r.result.refund),
      });
    }
  return out;
}

function closedView(l: DeployedLease, v: LeaseView | undefined): ClosedLease {
  if (!v) return { ...l, status: 'unknown', charged: '0', refunded: '0', reason: 'not on this network' };
  return {
    ...l,
    status: v.status,
    charged: v.charged,
    refunded: (BigInt(v.escrow) - BigInt(v.charged)).toString(),
    reason: v.closeReason,
  };
}
