import { existsSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { AethirError, isAethirError, type KeyPair } from '../core/index.js';
import { PRIVATE_FILE_MODE, ensurePrivateDir, tightenPrivateFile } from '../core/private-files.js';
import type { ApiClient, LeaseView } from './client.js';
import { defaultIsolation } from '../indexer/index.js';
import type { Workload } from '../ledger/index.js';
import { Renter, type OpenedLease } from './renter.js';
import { sealedEnvFor } from './sealed-env.js';
import { sdlEnvOf, type DeploymentPlan, type GpuChoice, type ServicePlan } from './sdl.js';

/**
 * A deployment: a named group of leases opened together (from an Akash SDL), recorded on the
 * client in $AETHIR_HOME/deployments/<name>.json (0600): lease ids, containers, the network.
 * No env values or other secrets are written.
 */

export const DEPLOYMENT_NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

const DeployedLease = z.object({
  service: z.string(),
  placement: z.string(),
  /** 0-based instance of the service in its placement (count > 1) */
  index: z.number().int().min(0),
  lease: z.string(),
  container: z.string(),
  containerName: z.string(),
  gpus: z.number().int().min(0),
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
  const record: DeploymentRecord = {
    name: i.name,
    createdAt: (i.now ?? Date.now)(),
    source: i.source,
    chainId: await renter.chainId(),
    user: i.key.address,
    leases: [],
    closedAt: null,
  };
  for (const s of i.plan.services)
    for (let index = 0; index < s.count; index++) {
      const what = `${s.service}[${index}]`;
      try {
        const opened = await openOne(renter, s, workloads.get(s)!, i.maxDurationSec, (l) =>
          say(`${what}: ${l}`),
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
        });
        i.store.save(record);
        await renter.detached(opened);
        say(`${what}: lease ${opened.lease} runs detached on ${c.name}`);
      } catch (e) {
        const closed = record.leases.length
          ? await closeDeployment(i.api, i.key, record, i.store, 'deploy failed: rolled back')
          : [];
        throw new AethirError(
          isAethirError(e) ? e.code : 'INTERNAL',
          `${what}: ${(e as Error).message}; ` +
            (closed.length
              ? `the ${closed.length} lease${closed.length === 1 ? '' : 's'} opened were closed`
              : 'nothing was opened'),
          { cause: e },
        );
      }
    }
  return record;
}

/**
 * One lease of a planned service: the first GPU choice that matches (a NO_MATCH moves to the
 * next; nothing is opened until one matches), on a host that registers the profile's CPU cores
 * and memory (rounded up to whole cores and MiB), the env sealed to that host.
 */
async function openOne(
  renter: Renter,
  s: ServicePlan,
  workload: LeaseWorkload,
  maxDurationSec: number,
  say: (line: string) => void,
): Promise<OpenedLease> {
  const choices: Array<GpuChoice | null> = s.gpu.units > 0 ? s.gpu.choices : [null];
  const cap = BigInt(s.pricing.maxPricePerHour!);
  const env = sdlEnvOf(s);
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
          isolation: workload.port !== undefined ? 'sandbox' : defaultIsolation(s.gpu.units),
          minCpuCores: Math.ceil(s.cpu.millicores / 1000),
          minMemoryMiB: Number((BigInt(s.memoryBytes) + (1n << 20n) - 1n) >> 20n),
        },
        maxDurationSec,
        maxPricePerHour: cap,
        onProgress: say,
        workload: async (c, chainId) => ({
          ...workload,
          ...(await sealedEnvFor(env, c, chainId, renter.key.address)),
        }),
      });
    } catch (e) {
      if (!(isAethirError(e) && e.code === 'NO_MATCH')) throw e;
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
