import { existsSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { AethirError, isAethirError, type KeyPair } from '../core/index.js';
import { PRIVATE_FILE_MODE, ensurePrivateDir, tightenPrivateFile } from '../core/private-files.js';
import type { ApiClient, ContainerView, LeaseView } from './client.js';
import { openLease, type LeaseWorkload } from './lease-open.js';
import { sdlEnvOf, type DeploymentPlan, type GpuChoice, type ServicePlan } from './sdl.js';
import { TxSender } from './tx-sender.js';

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

/** Where a planned service's GPUs may come from, and whether a container meets its CPU and memory. */
export interface DeployInput {
  api: ApiClient;
  key: KeyPair;
  plan: DeploymentPlan;
  store: DeploymentStore;
  name: string;
  source: { file: string; sha256: string };
  maxDurationSec: number;
  /** what a planned service runs on a lease (an image, or a command on the host-process runtime) */
  workloadFor: (s: ServicePlan) => LeaseWorkload;
  /** progress lines for humans */
  say?: (line: string) => void;
  /** now, for the record (ms) */
  now?: () => number;
}

/**
 * Brings a plan up: every lease is matched first (a GPU choice at a time, in the SDL's order;
 * the host must register the CPU cores and memory the profile asks), then each is opened and the
 * record saved after each one. If a match fails nothing is opened; if an open fails, the leases
 * already opened are closed (refunded but for the time they ran) and the error says so.
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
  // what each service runs is settled before the network is asked anything
  const workloads = new Map(i.plan.services.map((s) => [s, i.workloadFor(s)] as const));
  const chainId = await i.api.chainId();
  // Match every lease before opening any: a deployment that cannot come up whole moves no money.
  const matched: Array<{ s: ServicePlan; index: number; c: ContainerView }> = [];
  for (const s of i.plan.services)
    for (let index = 0; index < s.count; index++) {
      const c = await matchService(i.api, i.key.address, s);
      say(`${s.service}[${index}]: ${c.name} in ${c.location.city}, ${c.location.country}`);
      matched.push({ s, index, c });
    }
  const record: DeploymentRecord = {
    name: i.name,
    createdAt: (i.now ?? Date.now)(),
    source: i.source,
    chainId,
    user: i.key.address,
    leases: [],
    closedAt: null,
  };
  i.store.save(record);
  const sender = new TxSender(i.key, i.api);
  for (const m of matched) {
    try {
      const opened = await openLease({
        api: i.api,
        sender,
        chainId,
        container: m.c,
        gpus: m.s.gpu.units,
        maxDurationSec: i.maxDurationSec,
        maxPricePerHour: BigInt(m.s.pricing.maxPricePerHour!),
        workload: workloads.get(m.s)!,
        env: sdlEnvOf(m.s),
      });
      record.leases.push({
        service: m.s.service,
        placement: m.s.placement,
        index: m.index,
        lease: opened.lease,
        container: m.c.id,
        containerName: m.c.name,
        gpus: m.s.gpu.units,
      });
      i.store.save(record);
      say(`${m.s.service}[${m.index}]: lease ${opened.lease} opened`);
    } catch (e) {
      const closed = await closeDeployment(i.api, i.key, record, i.store, 'deploy failed: rolled back');
      throw new AethirError(
        isAethirError(e) ? e.code : 'INTERNAL',
        `${m.s.service}[${m.index}]: ${(e as Error).message}; ` +
          (closed.length
            ? `the ${closed.length} lease${closed.length === 1 ? '' : 's'} already opened were closed`
            : 'nothing was opened'),
        { cause: e },
      );
    }
  }
  return record;
}

/**
 * A container for one instance of a service: the first GPU choice that matches, on a host that
 * registers the profile's CPU cores and memory (rounded up to whole cores and MiB).
 */
async function matchService(api: ApiClient, user: string, s: ServicePlan): Promise<ContainerView> {
  const choices: Array<GpuChoice | null> = s.gpu.units > 0 ? s.gpu.choices : [null];
  let last: unknown;
  for (const choice of choices) {
    try {
      const m = await api.match({
        user,
        gpus: s.gpu.units,
        ...(choice?.models ? { gpuModels: choice.models } : {}),
        ...(choice?.minVramMiB ? { minVramMiB: choice.minVramMiB } : {}),
        ...(s.region ? { region: s.region } : {}),
        maxPricePerHour: s.pricing.maxPricePerHour!,
        isolation: s.gpu.units > 0 ? 'sandbox' : 'any',
        minCpuCores: Math.ceil(s.cpu.millicores / 1000),
        minMemoryMiB: Number((BigInt(s.memoryBytes) + (1n << 20n) - 1n) >> 20n),
      });
      return m.container;
    } catch (e) {
      if (!(isAethirError(e) && e.code === 'NO_MATCH')) throw e;
      last = e;
    }
  }
  throw new AethirError(
    'NO_MATCH',
    `${s.service}: no container matches (${(last as Error).message}); nothing was opened`,
  );
}

export interface ClosedLease extends DeployedLease {
  status: string;
  charged: string;
  refunded: string;
  reason: string | null;
}

/**
 * Ends every lease of a deployment that is still open (`lease.close` by its user: the host is paid
 * for the time served, the rest of the escrow refunded), waits for each to settle, marks the
 * record closed and returns what each lease was charged and refunded.
 */
export async function closeDeployment(
  api: ApiClient,
  key: KeyPair,
  record: DeploymentRecord,
  store: DeploymentStore,
  reason = `deployment ${record.name} closed`,
  timeoutMs = 15_000,
): Promise<ClosedLease[]> {
  if (key.address !== record.user)
    throw new AethirError(
      'UNAUTHORIZED',
      `deployment ${record.name} was paid by ${record.user}; close it with that key (--key)`,
    );
  const sender = new TxSender(key, api);
  const views = await Promise.all(record.leases.map((l) => api.leaseView(l.lease)));
  for (const [n, v] of views.entries())
    if (v && v.status !== 'closed')
      await sender.send('lease.close', { lease: record.leases[n]!.lease, reason }).catch((e) => {
        if (!(isAethirError(e) && e.code === 'CONFLICT')) throw e;
      });
  const out: ClosedLease[] = [];
  for (const l of record.leases) {
    let v = await api.leaseView(l.lease);
    const deadline = Date.now() + timeoutMs;
    while (v && v.status !== 'closed' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      v = await api.leaseView(l.lease);
    }
    out.push(closedView(l, v));
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
