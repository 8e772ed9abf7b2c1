import YAML, { LineCounter, isNode, isScalar } from 'yaml';
import { z } from 'zod';
import { UNIT } from '../core/amount.js';
import { AethirError } from '../core/errors.js';
import { CITIES } from '../core/geo.js';
import { ENV_NAME_RE } from '../core/seal.js';
import { MAX_VOLUME_MIB, MIN_VOLUME_MIB, MountPath } from '../ledger/modules/volumes/payloads.js';

/**
 * Akash SDL (Stack Definition Language, versions 2.0 and 2.1) → an Aethir deployment plan.
 *
 * Our own reading of the format, following Akash's parser (akash-network/chain-sdk go/sdl: v2.go,
 * units.go, storage.go, gpu.go, coin.go and sdl-input.schema.yaml): CPU units are cores, decimals
 * or millicores ("0.5", "500m"); memory and storage sizes take k/M/G/T/P/E (powers of 1000) or
 * Ki…Ei (powers of 1024); GPU memory takes Ki…Ei only; storage is one volume or a list, an
 * unnamed one is the root ("default") volume, `class: ram` is a tmpfs that must not be persistent,
 * the other classes (default, beta1–3) must be persistent; `gpu.units > 0` needs
 * `attributes.vendor.nvidia` (null: any model); prices are decimal `amount`s of a `denom` per block.
 *
 * Every scalar is read as text (YAML failsafe schema, as Go's yaml.v3 hands node values to typed
 * fields), then checked here, so `version: 2.0` stays "2.0" and `model: 4000` stays "4000". What
 * Aethir cannot honour is refused with the SDL path that asks for it, never dropped.
 */

/** GPU models one match request may list (MatchRequestSchema.gpuModels; a test ties the two). */
export const MAX_MATCH_MODELS = 16;

/** Above these, an SDL is refused before anything else is read. */
export const SDL_LIMITS = Object.freeze({
  /** bytes of YAML */
  maxBytes: 1 << 20,
  /** YAML aliases resolved (billion-laughs defence; the `yaml` package's maxAliasCount) */
  maxAliasCount: 100,
  /** leases one deployment may open (services × counts) */
  maxLeases: 64,
  /** GPUs on one lease (an Aethir lease runs on one container) */
  maxGpus: 64,
  /** CPU cores one service may ask (the largest host a container may register) */
  maxCpuCores: 4096,
});

/** Akash's average block time, seconds: the default for turning per-block prices into per-hour caps. */
export const AKASH_BLOCK_TIME_S = 6.1;

/** USDC on Akash mainnet (IBC denom of Noble USDC); `uusdc` is accepted as its short name. */
export const AKASH_USDC_IBC_DENOM = 'ibc/170C677610AC31DF0904FFE09CD3B5C657492170E7E52372E48756B71E56F2F1';

/** Which rate converts a denom: micro-units of AKT, ACT (Akash's compute credit) or USDC. */
export type Token = 'akt' | 'act' | 'usdc';
const DENOMS: Readonly<Record<string, Token>> = {
  uakt: 'akt',
  uact: 'act',
  uusdc: 'usdc',
  [AKASH_USDC_IBC_DENOM]: 'usdc',
};

export interface SdlIssue {
  /** where in the SDL, e.g. services.web.expose[0].to[0].ip */
  path: string;
  message: string;
  /** 1-based line in the YAML, where known */
  line?: number;
}

/** An SDL that cannot be deployed: every issue names its path. */
export class SdlError extends AethirError {
  readonly issues: SdlIssue[];
  constructor(issues: SdlIssue[], what = 'the SDL') {
    super(
      'INVALID_ARGUMENT',
      `${what} cannot be deployed:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`,
      { details: { issues } },
    );
    this.issues = issues;
  }
}

// ---------------------------------------------------------------------------------------------
// Paths

type Seg = string | number;

/** services.web.expose[0].to[0].ip; keys that are not plain names are quoted: a["x.y"]. */
export function formatPath(segs: readonly Seg[]): string {
  let out = '';
  for (const s of segs) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out || '(root)';
}

// ---------------------------------------------------------------------------------------------
// Scalars (all text under the failsafe schema)

const MAX_DIGITS = 30;

/** A decimal number as digits and a scale: "12.50" → { int: 1250n, scale: 2 }. */
interface Dec {
  int: bigint;
  scale: number;
}

function decimal(s: string): Dec | null {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(s);
  if (!m || m[1]!.length + (m[2]?.length ?? 0) > MAX_DIGITS) return null;
  return { int: BigInt(m[1]! + (m[2] ?? '')), scale: m[2]?.length ?? 0 };
}

const BYTE_SUFFIXES: Readonly<Record<string, bigint>> = {
  k: 1000n,
  M: 1000n ** 2n,
  G: 1000n ** 3n,
  T: 1000n ** 4n,
  P: 1000n ** 5n,
  E: 1000n ** 6n,
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n,
};
const MEMORY_SUFFIXES = ['Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];
/** Sizes above 1 EiB are refused: no host has them, and they would overflow the arithmetic's intent. */
const MAX_BYTES = 1n << 60n;

/** "128Gi" → bytes (floor), or a message saying why not. */
export function parseSize(text: string, memoryOnly = false): bigint | string {
  const allowed = memoryOnly ? MEMORY_SUFFIXES : Object.keys(BYTE_SUFFIXES);
  const m = /^([0-9.]+)([A-Za-z]*)$/.exec(text.trim());
  const hint = memoryOnly ? 'Ki, Mi, Gi, Ti' : 'k, M, G, T (×1000) or Ki, Mi, Gi, Ti (×1024)';
  if (text.trim().startsWith('-')) return `"${text}" is negative`;
  if (!m) return `"${text}" is not a size (a number with ${hint}, e.g. 32Gi)`;
  const d = decimal(m[1]!);
  if (!d) return `"${text}" is not a size (a number with ${hint}, e.g. 32Gi)`;
  let mult = 1n;
  if (m[2]) {
    if (!allowed.includes(m[2]))
      return `"${text}": unknown unit "${m[2]}" (use ${hint}${m[2].endsWith('b') || m[2].endsWith('B') ? '; no "b"' : ''})`;
    mult = BYTE_SUFFIXES[m[2]]!;
  }
  const bytes = (d.int * mult) / 10n ** BigInt(d.scale);
  if (bytes > MAX_BYTES) return `"${text}" is larger than any host (over 1 EiB)`;
  return bytes;
}

/** CPU units → millicores: "32" → 32000, "0.5" → 500, "500m" → 500. */
export function parseCpuUnits(text: string): number | string {
  const s = text.trim();
  if (s.startsWith('-')) return `"${text}" is negative`;
  let milli: bigint;
  const m = /^(\d{1,12})m$/.exec(s);
  if (m) milli = BigInt(m[1]!);
  else {
    const d = decimal(s);
    if (!d) return `"${text}" is not a CPU amount (cores, e.g. 2 or 0.5, or millicores, e.g. 500m)`;
    milli = (d.int * 1000n) / 10n ** BigInt(d.scale);
  }
  if (milli <= 0n) return 'must be more than zero';
  if (milli > BigInt(SDL_LIMITS.maxCpuCores * 1000))
    return `${text} cores is more than any host registers (${SDL_LIMITS.maxCpuCores})`;
  return Number(milli);
}

// ---------------------------------------------------------------------------------------------
// Structure (zod): types and known fields. Meaning is checked after, with paths.

const Text = z.string();
/** a sequence of strings, or nothing (`command:` with no value) */
const TextList = z.union([z.array(Text), z.literal('')]);
const Bool = z.enum(['true', 'false', 'True', 'False', 'TRUE', 'FALSE']);
const Count = z.string().regex(/^\d+$/, 'must be a whole number');
const Port = z
  .string()
  .regex(/^\d{1,5}$/, 'must be a port number (1–65535)')
  .refine((p) => Number(p) >= 1 && Number(p) <= 65_535, 'must be a port number (1–65535)');

const To = z.strictObject({ global: Bool.optional(), service: Text.optional(), ip: Text.optional() });
const Expose = z.strictObject({
  port: Port,
  as: Port.optional(),
  proto: z.enum(['tcp', 'TCP', 'udp', 'UDP']).optional(),
  to: z.array(To).optional(),
  accept: z.array(Text).optional(),
  http_options: z.record(Text, z.unknown()).optional(),
});
const Service = z.strictObject({
  image: Text.min(1, 'must name an image'),
  command: TextList.optional(),
  args: TextList.optional(),
  env: TextList.optional(),
  expose: z.union([z.array(Expose), z.literal('')]).optional(),
  params: z
    .strictObject({
      storage: z
        .record(
          Text,
          z.strictObject({ mount: Text.regex(/^\//, 'must be an absolute path'), readOnly: Bool.optional() }),
        )
        .optional(),
      permissions: z.unknown().optional(),
      tee: z.unknown().optional(),
    })
    .optional(),
  credentials: z.unknown().optional(),
  dependencies: z.unknown().optional(),
  depends_on: z.unknown().optional(),
});
const StorageVolume = z.strictObject({
  name: Text.optional(),
  size: Text,
  attributes: z.strictObject({ persistent: Bool.optional(), class: Text.optional() }).optional(),
});
const GpuModel = z.strictObject({
  model: Text.min(1, 'must name a model'),
  ram: Text.optional(),
  interface: z.enum(['pcie', 'sxm'], 'must be pcie or sxm').optional(),
});
const Compute = z.strictObject({
  resources: z.strictObject({
    cpu: z.strictObject({ units: Text, attributes: z.record(Text, z.unknown()).optional() }),
    memory: z.strictObject({ size: Text }),
    storage: z.union([StorageVolume, z.array(StorageVolume).min(1)]),
    gpu: z
      .strictObject({
        units: Text,
        attributes: z
          .strictObject({
            vendor: z.strictObject({ nvidia: z.union([z.array(GpuModel), z.literal('')]) }),
          })
          .optional(),
      })
      .optional(),
  }),
});
const Coin = z.strictObject({ denom: Text, amount: Text });
const Placement = z.strictObject({
  pricing: z.record(Text, Coin),
  attributes: z.record(Text, Text).optional(),
  signedBy: z.strictObject({ anyOf: z.array(Text).optional(), allOf: z.array(Text).optional() }).optional(),
});
const SdlSchema = z.strictObject({
  version: z.enum(['2.0', '2.1'], 'must be "2.0" or "2.1"'),
  services: z
    .record(Text, Service)
    .refine((s) => Object.keys(s).length > 0, 'must name at least one service'),
  profiles: z.strictObject({
    compute: z.record(Text, Compute),
    placement: z.record(Text, Placement),
  }),
  deployment: z.record(Text, z.record(Text, z.strictObject({ profile: Text, count: Count }))),
  endpoints: z.record(Text, z.unknown()).optional(),
});
type Sdl = z.infer<typeof SdlSchema>;

/** Hints for fields an SDL author may have meant. */
const FIELD_HINTS: Readonly<Record<string, string>> = {
  cmd: 'unknown field (Akash SDL runs `command` with `args`)',
  entrypoint: 'unknown field (Akash SDL runs `command` with `args`)',
};

function zodIssues(error: z.ZodError): Array<{ path: Seg[]; message: string }> {
  const out: Array<{ path: Seg[]; message: string }> = [];
  for (const i of error.issues) {
    const path = i.path.filter((p): p is Seg => typeof p !== 'symbol');
    if (i.code === 'unrecognized_keys')
      for (const k of i.keys) out.push({ path: [...path, k], message: FIELD_HINTS[k] ?? 'unknown field' });
    else if (i.code === 'invalid_type' && i.input === undefined) out.push({ path, message: 'required' });
    else if (i.code === 'invalid_type' || i.code === 'invalid_union')
      out.push({ path, message: `expected ${expected(i)}, got ${describe(i.input)}` });
    else out.push({ path, message: i.message });
  }
  return out;
}

function expected(i: z.core.$ZodIssue): string {
  if (i.code === 'invalid_type')
    return i.expected === 'string' ? 'a value' : `a ${i.expected === 'record' ? 'mapping' : i.expected}`;
  return 'another form';
}

function describe(v: unknown): string {
  if (typeof v === 'string') return v === '' ? 'nothing' : `"${v.length > 40 ? v.slice(0, 40) + '…' : v}"`;
  if (Array.isArray(v)) return 'a list';
  if (v && typeof v === 'object') return 'a mapping';
  return String(v);
}

// ---------------------------------------------------------------------------------------------
// The plan

export interface PlanOptions {
  /** ATH units per whole token, by token: converts per-block prices into caps */
  rates?: Partial<Record<Token, bigint>>;
  /** replaces the SDL's pricing: units per GPU-hour (per hour for CPU-only leases), as `rent --max-price` */
  maxPricePerHour?: bigint;
  /** block time in ms (default AKASH_BLOCK_TIME_S) */
  blockTimeMs?: number;
  /** names the SDL in error messages (e.g. its file name) */
  source?: string;
}

/** One acceptable GPU set: every GPU matches one of `models` (Aethir model patterns), each with at least `minVramMiB`. */
export interface GpuChoice {
  /** Aethir model patterns (whole words, as `rent --gpu-model`); null: any NVIDIA model */
  models: string[] | null;
  /** the SDL's model ids, as written */
  akashModels: string[];
  minVramMiB: number | null;
}

export interface PlannedVolume {
  name: string;
  mount: string;
  sizeBytes: string;
  readOnly: boolean;
  /** ram: the lease's /dev/shm; persistent: an Aethir volume on the lease's host, one per lease */
  kind: 'ram' | 'persistent';
  /** persistent: the size of the Aethir volume, MiB (the SDL's size rounded up) */
  sizeMiB?: number;
  /** persistent: the SDL's storage class (default, beta1, beta2, beta3), noted: hosts register one kind of disk */
  class?: string;
}

/** Another service this one reaches (it exposes a port `to: [{service: <this one>}]`), and the env that says where. */
export interface ServiceLink {
  service: string;
  /** the port of the other service's lease endpoint */
  port: number;
  /** env names this service gets: the other lease's endpoint URL, and a lease token for it (header x-aethir-lease-token) */
  urlEnv: string;
  tokenEnv: string;
}

export interface ServicePlan {
  /** service name in the SDL */
  service: string;
  /** placement group (profiles.placement.<name>) */
  placement: string;
  /** compute profile (profiles.compute.<name>) */
  profile: string;
  /** leases this service gets in this placement */
  count: number;
  image: string;
  /** the image's entrypoint replaced by (null: the image's own) */
  command: string[] | null;
  /** the image's arguments replaced by (null: the image's own) */
  args: string[] | null;
  /** the environment's names (values are sealed to the host at deploy time and never printed) */
  envNames: string[];
  /**
   * the one port served at the lease's endpoint (HTTP and WebSocket): public when exposed
   * `global: true`, else reached only by the services it is exposed to (with a lease token)
   */
  endpoint: { port: number; as: number; public: boolean } | null;
  /** the services this one reaches, opened before it (their endpoints come in its env) */
  links: ServiceLink[];
  cpu: { millicores: number };
  memoryBytes: string;
  /** root (ephemeral) disk asked for */
  storageBytes: string;
  volumes: PlannedVolume[];
  gpu: { units: number; choices: GpuChoice[] };
  /** Aethir region (from placement attributes.region); null: anywhere */
  region: string | null;
  pricing: {
    denom: string;
    /** per block, in the denom (micro-units), as written */
    amount: string;
    /** the cap the lease is opened with: units per GPU-hour (per hour for CPU-only); null: no rate given */
    maxPricePerHour: string | null;
    /** how the cap was obtained */
    source: 'sdl' | 'max-price' | 'no-rate';
  };
}

export interface DeploymentPlan {
  version: '2.0' | '2.1';
  services: ServicePlan[];
  /** total leases: the sum of counts */
  leases: number;
  blockTimeMs: number;
  /** what is planned but not enforced as Akash would, in words */
  notes: string[];
}

const NO_START_ORDER = 'start order between services is not supported (leases start independently)';

/** Parses YAML text into plain data (strings, lists, mappings), with the line of each path. */
function readYaml(text: string, source: string): { data: unknown; lineOf: (p: Seg[]) => number | undefined } {
  if (Buffer.byteLength(text, 'utf8') > SDL_LIMITS.maxBytes)
    throw new SdlError([{ path: '(file)', message: `larger than ${SDL_LIMITS.maxBytes} bytes` }], source);
  const lines = new LineCounter();
  const docs = YAML.parseAllDocuments(text, { schema: 'failsafe', lineCounter: lines, uniqueKeys: true });
  if (!Array.isArray(docs)) throw new SdlError([{ path: '(file)', message: 'empty YAML' }], source);
  if (docs.length !== 1)
    throw new SdlError([{ path: '(file)', message: `${docs.length} YAML documents; an SDL is one` }], source);
  const doc = docs[0]!;
  const problems = [...doc.errors, ...doc.warnings];
  if (doc.errors.length)
    throw new SdlError(
      problems.map((e) => {
        const at = lines.linePos(e.pos[0]);
        return {
          path: '(yaml)',
          message: `line ${at.line}, column ${at.col}: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
          line: at.line,
        };
      }),
      source,
    );
  // A key that is a list, a mapping or an alias has no place in an SDL, and toJS would turn it into
  // text with a process warning: a stranger's file would write to the reader's log.
  const oddKeys: SdlIssue[] = [];
  YAML.visit(doc, {
    Pair(_, pair) {
      if (pair.key === null || isScalar(pair.key)) return;
      const at = isNode(pair.key) && pair.key.range ? lines.linePos(pair.key.range[0]) : null;
      oddKeys.push({
        path: '(yaml)',
        message: `${at ? `line ${at.line}, column ${at.col}: ` : ''}a mapping key must be plain text, not a list, a mapping or an alias`,
        ...(at ? { line: at.line } : {}),
      });
    },
  });
  if (oddKeys.length) throw new SdlError(oddKeys, source);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: SDL_LIMITS.maxAliasCount });
  } catch (e) {
    throw new SdlError(
      [
        {
          path: '(yaml)',
          message: `${(e as Error).message} (more than ${SDL_LIMITS.maxAliasCount} alias expansions)`,
        },
      ],
      source,
    );
  }
  const lineOf = (p: Seg[]) => {
    for (let n = p.length; n > 0; n--) {
      const node = doc.getIn(p, true);
      if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
      p = p.slice(0, -1);
    }
    return undefined;
  };
  return { data, lineOf };
}

/**
 * Reads an SDL and plans it: one ServicePlan per (service, placement), with its count. Throws
 * SdlError naming every path that is malformed or that Aethir cannot honour; nothing else is
 * dropped. Pure: no network, no clock.
 */
export function planSdl(text: string, opts: PlanOptions = {}): DeploymentPlan {
  const source = opts.source ?? 'the SDL';
  const { data, lineOf } = readYaml(text, source);
  const issues: SdlIssue[] = [];
  const add = (path: Seg[], message: string) => {
    const line = lineOf(path);
    issues.push({ path: formatPath(path), message, ...(line ? { line } : {}) });
  };
  if (data === null || typeof data !== 'object' || Array.isArray(data))
    throw new SdlError(
      [{ path: '(root)', message: 'an SDL is a mapping (version, services, profiles, deployment)' }],
      source,
    );
  const reserved: Seg[][] = [];
  protoKeys(data, [], reserved);
  for (const p of reserved) add(p, 'a reserved key');
  if (issues.length) throw new SdlError(issues, source);
  const parsed = SdlSchema.safeParse(data);
  if (!parsed.success) {
    for (const i of zodIssues(parsed.error)) add(i.path, i.message);
    throw new SdlError(issues, source);
  }
  const sdl = parsed.data;
  const blockTimeMs = opts.blockTimeMs ?? AKASH_BLOCK_TIME_S * 1000;
  if (!Number.isInteger(blockTimeMs) || blockTimeMs < 100 || blockTimeMs > 600_000)
    throw new AethirError('INVALID_ARGUMENT', 'the block time must be from 0.1 s to 600 s, in whole ms');
  const notes = new Set<string>();

  if (sdl.endpoints)
    for (const name of Object.keys(sdl.endpoints))
      add(
        ['endpoints', name],
        'IP endpoints are not supported (an Aethir lease is reached at its endpoint URL)',
      );

  // services: what each one runs and exposes
  const serviceNames = new Set(Object.keys(sdl.services));
  const endpoints = new Map<string, ServicePlan['endpoint']>();
  /** service → the services it reaches (they expose a port to it) */
  const reachedBy = new Map<string, Array<{ service: string; port: number; path: Seg[] }>>();
  for (const [name, svc] of Object.entries(sdl.services)) {
    const at: Seg[] = ['services', name];
    if (!/^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(name) || name.length > 63)
      add(
        at,
        'a service name is lower-case letters, digits and -, starting with a letter (as Akash requires)',
      );
    for (const [path, present, message] of [
      [['credentials'], svc.credentials, 'private registry credentials are not supported'],
      [['depends_on'], svc.depends_on, NO_START_ORDER],
      [['dependencies'], svc.dependencies, NO_START_ORDER],
      [['params', 'permissions'], svc.params?.permissions, 'deployment permissions are not supported'],
      [['params', 'tee'], svc.params?.tee, 'trusted execution environments are not supported'],
    ] as const)
      if (present !== undefined) add([...at, ...path], message);
    const env = svc.env === '' || svc.env === undefined ? [] : svc.env;
    const seen = new Set<string>();
    env.forEach((kv, i) => {
      const eq = kv.indexOf('=');
      const key = eq < 0 ? kv : kv.slice(0, eq);
      if (eq < 0) add([...at, 'env', i], `"${key.slice(0, 40)}" has no "=" (write NAME=value)`);
      else if (!ENV_NAME_RE.test(key)) add([...at, 'env', i], `"${key.slice(0, 40)}" is not a variable name`);
      else if (seen.has(key)) add([...at, 'env', i], `${key} is set twice`);
      seen.add(key);
    });
    const exposes = svc.expose === '' || svc.expose === undefined ? [] : svc.expose;
    // the lease's one endpoint: the first port exposed globally or to another service
    let endpoint: { port: number; as: number; public: boolean } | null = null;
    exposes.forEach((e, i) => {
      const ep: Seg[] = [...at, 'expose', i];
      if (e.proto && e.proto.toLowerCase() === 'udp')
        add([...ep, 'proto'], 'UDP is not supported (a lease endpoint carries HTTP and WebSocket)');
      if (e.accept?.length)
        add(
          [...ep, 'accept'],
          'custom host names are not supported (a lease is reached at its endpoint URL)',
        );
      if (e.http_options !== undefined)
        add(
          [...ep, 'http_options'],
          'HTTP options are not supported (the endpoint proxy has no per-lease body limits, timeouts or retries)',
        );
      let isGlobal = false;
      const reachers: Array<{ service: string; path: Seg[] }> = [];
      (e.to ?? []).forEach((t, j) => {
        const tp: Seg[] = [...ep, 'to', j];
        if (t.ip !== undefined) add([...tp, 'ip'], 'IP leases are not supported');
        if (t.service !== undefined) {
          if (!serviceNames.has(t.service)) add([...tp, 'service'], `no service named "${t.service}"`);
          else if (t.service === name) add([...tp, 'service'], 'a service does not expose a port to itself');
          else reachers.push({ service: t.service, path: [...tp, 'service'] });
        }
        if (t.global !== undefined && t.ip === undefined && /^true$/i.test(t.global)) isGlobal = true;
      });
      if (!isGlobal && reachers.length === 0) return;
      const port = Number(e.port);
      if (endpoint !== null && endpoint.port !== port) {
        add(
          [...ep, 'port'],
          isGlobal && endpoint.public
            ? `a lease has one endpoint: port ${e.port} would be a second global port (after ${endpoint.port})`
            : `a lease has one endpoint: port ${e.port} would be a second exposed port (after ${endpoint.port})`,
        );
        return;
      }
      endpoint = { port, as: Number(e.as ?? e.port), public: isGlobal || (endpoint?.public ?? false) };
      for (const r of reachers) {
        const list = reachedBy.get(r.service) ?? [];
        if (!list.some((l) => l.service === name)) list.push({ service: name, port, path: r.path });
        reachedBy.set(r.service, list);
      }
    });
    endpoints.set(name, endpoint);
  }
  checkLinks(sdl, reachedBy, add);
  hostNameNotes(sdl, reachedBy, notes);

  // deployment: which profile in which placement, how many
  const plans: ServicePlan[] = [];
  let leases = 0;
  for (const [svcName, groups] of Object.entries(sdl.deployment)) {
    const svc = own(sdl.services, svcName);
    if (!svc) {
      add(['deployment', svcName], `no service named "${svcName}" in services`);
      continue;
    }
    if (Object.keys(groups).length === 0) add(['deployment', svcName], 'names no placement');
    for (const [placementName, d] of Object.entries(groups)) {
      const at: Seg[] = ['deployment', svcName, placementName];
      const count = Number(d.count);
      if (count < 1) add([...at, 'count'], 'must be at least 1');
      else if (!Number.isSafeInteger(count) || count > SDL_LIMITS.maxLeases)
        add(
          [...at, 'count'],
          `${d.count} leases is more than one deployment may open (${SDL_LIMITS.maxLeases})`,
        );
      else leases += count;
      const compute = own(sdl.profiles.compute, d.profile);
      if (!compute) add([...at, 'profile'], `no compute profile named "${d.profile}" in profiles.compute`);
      const placement = own(sdl.profiles.placement, placementName);
      if (!placement) add([...at], `no placement named "${placementName}" in profiles.placement`);
      if (!compute || !placement) continue;
      const plan = planService(sdl, svcName, placementName, d.profile, count, opts, add, notes, {
        endpoint: endpoints.get(svcName) ?? null,
        links: (reachedBy.get(svcName) ?? []).map((l) => linkOf(l.service, l.port)),
      });
      if (plan) plans.push(plan);
    }
  }
  for (const name of serviceNames)
    if (!own(sdl.deployment, name))
      add(['services', name], 'not deployed: deployment names no placement for it');
  if (leases > SDL_LIMITS.maxLeases)
    add(
      ['deployment'],
      `${leases} leases in all is more than one deployment may open (${SDL_LIMITS.maxLeases})`,
    );
  if (issues.length) throw new SdlError(dedupe(issues), source);
  return { version: sdl.version, services: openOrder(plans), leases, blockTimeMs, notes: [...notes] };
}

/** Why a lease cannot mount a volume at `p` (the ledger's MountPath refused it), in an SDL author's words. */
function mountRefusal(p: string, why: string): string {
  const shown = `"${p.slice(0, 80)}"`;
  const system = /^\/(usr|etc|opt|proc|dev|sys|run|tmp|bin|sbin|lib|lib32|lib64|libx32|boot)(\/|$)/.exec(p);
  if (system)
    return `${shown}: an Aethir lease does not mount volumes under /${system[1]} (system directories: /usr, /etc, /opt, /proc, /dev, /sys, /run, /tmp, /bin, /sbin, /lib*, /boot); mount it elsewhere, e.g. /data`;
  if (p.split('/').some((seg) => seg === '..' || seg === '.'))
    return `${shown} must not contain . or .. (it would escape the mount point)`;
  return `${shown} ${why}`;
}

/** The env names that tell a service where another one is: DB_SERVICE_URL, DB_SERVICE_TOKEN for "db". */
export function linkOf(service: string, port: number): ServiceLink {
  const stem = service.toUpperCase().replace(/-/g, '_');
  return { service, port, urlEnv: `${stem}_SERVICE_URL`, tokenEnv: `${stem}_SERVICE_TOKEN` };
}

/**
 * Services that reach others: each target runs as one lease (its endpoint is one URL), the env
 * names given to the service that reaches it are not its own, and no cycle (a service is given
 * the endpoints it reaches when its lease opens, so those open first).
 */
function checkLinks(
  sdl: Sdl,
  reachedBy: Map<string, Array<{ service: string; port: number; path: Seg[] }>>,
  add: (path: Seg[], message: string) => void,
): void {
  const countOf = (svc: string) =>
    Object.values(own(sdl.deployment, svc) ?? {}).reduce((n, d) => n + (Number(d.count) || 0), 0);
  for (const [from, targets] of reachedBy) {
    const svc = sdl.services[from]!;
    const env = svc.env === '' || svc.env === undefined ? [] : svc.env;
    for (const t of targets) {
      if (countOf(t.service) > 1)
        add(
          t.path,
          `service ${t.service} is reached by other services, so it runs as one lease (count 1): Aethir has no load balancer across a service's leases`,
        );
      const link = linkOf(t.service, t.port);
      env.forEach((kv, i) => {
        const key = kv.slice(0, kv.indexOf('=') < 0 ? kv.length : kv.indexOf('='));
        if (key === link.urlEnv || key === link.tokenEnv)
          add(
            ['services', from, 'env', i],
            `${key} is set by Aethir: where service ${t.service} is (its lease endpoint, and a token for it)`,
          );
      });
    }
  }
  // a cycle: some service reaches itself through others
  const state = new Map<string, 'open' | 'done'>();
  const visit = (s: string, trail: string[]): void => {
    if (state.get(s) === 'done') return;
    if (state.get(s) === 'open') {
      const loop = [...trail.slice(trail.indexOf(s)), s];
      const first = reachedBy.get(loop[0]!)!.find((t) => t.service === loop[1])!;
      add(
        first.path,
        `services reach each other in a cycle (${loop.join(' → ')}): each lease is given the endpoints it reaches when it opens, so they must open one after another`,
      );
      return;
    }
    state.set(s, 'open');
    for (const t of reachedBy.get(s) ?? []) visit(t.service, [...trail, s]);
    state.set(s, 'done');
  };
  for (const s of reachedBy.keys()) visit(s, []);
}

/**
 * Akash services find each other by host name (`OLLAMA_BASE_URL=http://ollama:11434`); on Aethir
 * that name resolves nowhere. Not rewritten (a value is the author's): said in the plan.
 */
function hostNameNotes(
  sdl: Sdl,
  reachedBy: Map<string, Array<{ service: string; port: number }>>,
  notes: Set<string>,
): void {
  for (const [from, targets] of reachedBy) {
    const env = sdl.services[from]!.env;
    (env === '' || env === undefined ? [] : env).forEach((kv, i) => {
      const value = kv.slice(kv.indexOf('=') + 1);
      for (const t of targets) {
        const link = linkOf(t.service, t.port);
        if (namesHost(value, t.service))
          notes.add(
            `services.${from}.env[${i}] names service ${t.service} as a host, which Aethir does not resolve: use $${link.urlEnv} (with the header x-aethir-lease-token: $${link.tokenEnv})`,
          );
      }
    });
  }
}

/** Does `value` name `host` as a host: at its start or after // or @, followed by its end, : or /? */
function namesHost(value: string, host: string): boolean {
  for (let at = value.indexOf(host); at >= 0; at = value.indexOf(host, at + 1)) {
    const before = value.slice(0, at);
    const after = value[at + host.length];
    if (
      (before === '' || before.endsWith('//') || before.endsWith('@')) &&
      (after === undefined || after === ':' || after === '/')
    )
      return true;
  }
  return false;
}

/** The plans in the order their leases open: a service after the ones it reaches, else in the SDL's order. */
function openOrder(plans: ServicePlan[]): ServicePlan[] {
  const out: ServicePlan[] = [];
  const placed = new Set<ServicePlan>();
  const place = (p: ServicePlan, depth: number): void => {
    if (placed.has(p) || depth > plans.length) return;
    for (const l of p.links) for (const q of plans) if (q.service === l.service) place(q, depth + 1);
    placed.add(p);
    out.push(p);
  };
  for (const p of plans) place(p, 0);
  return out;
}

function dedupe(issues: SdlIssue[]): SdlIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.path}\n${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** A mapping's own entry: never one inherited from Object.prototype ("constructor", "toString"). */
function own<T>(map: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return map !== undefined && Object.hasOwn(map, key) ? map[key] : undefined;
}

/** Paths of "__proto__" keys: zod and plain objects would drop them silently, so they are refused. */
function protoKeys(v: unknown, path: Seg[], out: Seg[][]): void {
  if (Array.isArray(v)) v.forEach((x, i) => protoKeys(x, [...path, i], out));
  else if (v && typeof v === 'object')
    for (const k of Object.keys(v)) {
      if (k === '__proto__') out.push([...path, k]);
      else protoKeys((v as Record<string, unknown>)[k], [...path, k], out);
    }
}

const isTrue = (b: string | undefined) => b !== undefined && /^true$/i.test(b);

function planService(
  sdl: Sdl,
  svcName: string,
  placementName: string,
  profileName: string,
  count: number,
  opts: PlanOptions,
  add: (path: Seg[], message: string) => void,
  notes: Set<string>,
  wiring: Pick<ServicePlan, 'endpoint' | 'links'>,
): ServicePlan | null {
  const svc = sdl.services[svcName]!;
  const res = sdl.profiles.compute[profileName]!.resources;
  const placement = sdl.profiles.placement[placementName]!;
  const rp: Seg[] = ['profiles', 'compute', profileName, 'resources'];
  const failed = { n: 0 };
  const fail = (path: Seg[], message: string) => {
    failed.n++;
    add(path, message);
  };

  // CPU and memory
  if (res.cpu.attributes && Object.keys(res.cpu.attributes).length)
    for (const k of Object.keys(res.cpu.attributes))
      fail([...rp, 'cpu', 'attributes', k], 'CPU attributes are not registered by Aethir hosts');
  const cpu = parseCpuUnits(res.cpu.units);
  if (typeof cpu === 'string') fail([...rp, 'cpu', 'units'], cpu);
  const memory = parseSize(res.memory.size);
  if (typeof memory === 'string') fail([...rp, 'memory', 'size'], memory);
  else if (memory === 0n) fail([...rp, 'memory', 'size'], 'must be more than zero');

  // storage: one root (ephemeral) volume, RAM volumes (/dev/shm), persistent volumes (Aethir volumes)
  const list = Array.isArray(res.storage) ? res.storage : [res.storage];
  const sp: Seg[] = [...rp, 'storage'];
  const at = (i: number): Seg[] => (Array.isArray(res.storage) ? [...sp, i] : sp);
  let rootBytes = 0n;
  const byName = new Map<
    string,
    { i: number; bytes: bigint; ram: boolean; persistent: boolean; cls: string | undefined }
  >();
  list.forEach((v, i) => {
    const name = v.name ?? 'default';
    const size = parseSize(v.size);
    if (typeof size === 'string') return fail([...at(i), 'size'], size);
    if (byName.has(name)) return fail([...at(i), 'name'], `a second volume named "${name}"`);
    const persistent = isTrue(v.attributes?.persistent);
    const cls = v.attributes?.class;
    if (cls !== undefined && !['default', 'beta1', 'beta2', 'beta3', 'ram'].includes(cls))
      return fail(
        [...at(i), 'attributes', 'class'],
        `unknown storage class "${cls}" (default, beta1, beta2, beta3, ram)`,
      );
    if (cls === 'ram' && persistent)
      return fail([...at(i), 'attributes', 'persistent'], 'a ram volume cannot be persistent');
    if (cls !== undefined && cls !== 'ram' && !persistent)
      return fail([...at(i), 'attributes', 'class'], `storage class ${cls} is for persistent volumes`);
    if (persistent && name === 'default')
      return fail(
        [...at(i), 'attributes', 'persistent'],
        'the root volume cannot be persistent: name the volume and mount it (services.S.params.storage)',
      );
    byName.set(name, { i, bytes: size, ram: cls === 'ram', persistent, cls });
    if (cls !== 'ram' && !persistent) {
      if (name !== 'default')
        fail(
          [...at(i), 'name'],
          'a named ephemeral volume is not supported (only the root volume, ram volumes and persistent volumes)',
        );
      rootBytes += size;
    }
  });
  const volumes: PlannedVolume[] = [];
  for (const [name, p] of Object.entries(svc.params?.storage ?? {})) {
    const path: Seg[] = ['services', svcName, 'params', 'storage', name];
    const v = byName.get(name);
    if (!v) {
      // one refused above has its own issue; anything else is a dangling name
      if (!list.some((x) => (x.name ?? 'default') === name))
        fail(path, `no volume named "${name}" in profiles.compute.${profileName}.resources.storage`);
      continue;
    }
    if (name === 'default') fail(path, 'the root volume cannot be mounted elsewhere');
    else if (v.ram && p.mount !== '/dev/shm')
      fail(
        [...path, 'mount'],
        "a ram volume is the lease's own /dev/shm (a tmpfs in its memory); other mount points are not supported",
      );
    else if (v.ram)
      volumes.push({
        name,
        mount: p.mount,
        sizeBytes: v.bytes.toString(),
        readOnly: isTrue(p.readOnly),
        kind: 'ram',
      });
    else if (v.persistent) {
      const mount = MountPath.safeParse(p.mount);
      const sizeMiB = Number((v.bytes + (1n << 20n) - 1n) >> 20n);
      if (!mount.success) fail([...path, 'mount'], mountRefusal(p.mount, mount.error.issues[0]!.message));
      else if (volumes.some((x) => x.mount === p.mount))
        fail([...path, 'mount'], `${p.mount} is mounted twice`);
      if (sizeMiB < MIN_VOLUME_MIB || sizeMiB > MAX_VOLUME_MIB)
        fail(
          [...at(v.i), 'size'],
          `an Aethir volume holds ${MIN_VOLUME_MIB} MiB to ${MAX_VOLUME_MIB / (1 << 20)} TiB`,
        );
      volumes.push({
        name,
        mount: p.mount,
        sizeBytes: v.bytes.toString(),
        readOnly: isTrue(p.readOnly),
        kind: 'persistent',
        sizeMiB,
        class: v.cls ?? 'default',
      });
    }
  }
  for (const [name, v] of byName)
    if ((v.ram || v.persistent) && own(svc.params?.storage, name) === undefined)
      fail(
        [...at(v.i)],
        `${v.ram ? 'ram' : 'persistent'} volume "${name}" is not mounted by services.${svcName}.params.storage`,
      );
  if (rootBytes > 0n) notes.add('root disk sizes are not checked: Aethir hosts register no disk size');
  if (volumes.some((v) => v.kind === 'ram'))
    notes.add("a ram volume is the lease's /dev/shm: a tmpfs bounded by the lease's memory, not by its size");
  if (volumes.some((v) => v.kind === 'persistent')) {
    notes.add(
      "a persistent volume is an Aethir volume on its lease's host, one per lease (as on Akash, each replica has its own; services never share one), billed per GiB-hour at the host's volume price besides the lease; it outlives the deployment until deleted (deployments close --delete-volumes)",
    );
    for (const c of new Set(volumes.flatMap((v) => (v.class && v.class !== 'default' ? [v.class] : []))))
      notes.add(
        `storage class ${c} is noted, not matched: Aethir hosts offer one kind of volume disk (a loop-mounted ext4 image)`,
      );
  }

  // GPUs
  let gpuUnits = 0;
  const choices: GpuChoice[] = [];
  if (res.gpu) {
    const gp: Seg[] = [...rp, 'gpu'];
    const u = res.gpu.units;
    if (!/^\d+$/.test(u))
      fail([...gp, 'units'], u.startsWith('-') ? `"${u}" is negative` : `"${u}" is not a whole number`);
    else if (Number(u) > SDL_LIMITS.maxGpus)
      fail(
        [...gp, 'units'],
        `${u} GPUs is more than one lease may hold (${SDL_LIMITS.maxGpus}, on one host)`,
      );
    else gpuUnits = Number(u);
    const nvidia = res.gpu.attributes?.vendor.nvidia;
    if (gpuUnits > 0 && !res.gpu.attributes)
      fail([...gp, 'attributes'], 'GPU units need attributes.vendor.nvidia (an empty value: any model)');
    if (res.gpu.attributes && /^0+$/.test(u)) fail([...gp, 'units'], 'GPU attributes need units above zero');
    if (gpuUnits > 0 && nvidia !== undefined) {
      if (nvidia === '' || nvidia.length === 0)
        choices.push({ models: null, akashModels: [], minVramMiB: null });
      else {
        const byRam = new Map<number | null, GpuChoice>();
        nvidia.forEach((m, i) => {
          const mp: Seg[] = [...gp, 'attributes', 'vendor', 'nvidia', i];
          const pattern = aethirGpuModel(m.model);
          if (pattern === null)
            return fail([...mp, 'model'], `"${m.model.slice(0, 40)}" is not a GPU model id`);
          let ram: number | null = null;
          if (m.ram !== undefined) {
            const b = parseSize(m.ram, true);
            if (typeof b === 'string') return fail([...mp, 'ram'], b);
            ram = Number((b + (1n << 20n) - 1n) >> 20n);
          }
          if (m.interface === 'sxm' || (m.interface === 'pcie' && !/^(rtx|gtx)/.test(m.model.toLowerCase())))
            return fail(
              [...mp, 'interface'],
              'GPU interface is not registered by Aethir hosts (pcie is accepted only for GeForce RTX/GTX, which are all PCIe)',
            );
          const c = byRam.get(ram) ?? { models: [], akashModels: [], minVramMiB: ram };
          if (!c.models!.includes(pattern)) c.models!.push(pattern);
          c.akashModels.push(m.model);
          byRam.set(ram, c);
        });
        for (const c of byRam.values())
          if (c.models!.length > MAX_MATCH_MODELS)
            fail(
              [...gp, 'attributes', 'vendor', 'nvidia'],
              `${c.models!.length} models${c.minVramMiB ? ` with ${c.minVramMiB / 1024} GiB` : ''}: one match takes at most ${MAX_MATCH_MODELS}`,
            );
        choices.push(...byRam.values());
      }
    }
  }

  // placement: region and price
  const pp: Seg[] = ['profiles', 'placement', placementName];
  if (placement.signedBy)
    fail(
      [...pp, 'signedBy'],
      'auditor signatures are not supported (Aethir hosts are verified by checkers, not auditors)',
    );
  let region: string | null = null;
  for (const [k, v] of Object.entries(placement.attributes ?? {})) {
    if (k === 'region' && CITIES.some((c) => c.region === v || c.region.startsWith(`${v}-`))) region = v;
    else if (k === 'region')
      fail([...pp, 'attributes', k], `"${v}" is not an Aethir region (e.g. eu, eu-west, us-east, ap)`);
    else fail([...pp, 'attributes', k], 'no Aethir equivalent (only region maps to a filter)');
  }
  const coin = own(placement.pricing, profileName);
  let pricing: ServicePlan['pricing'] | null = null;
  if (!coin) fail([...pp, 'pricing', profileName], `no price for profile "${profileName}"`);
  else {
    const cp: Seg[] = [...pp, 'pricing', profileName];
    const token = own(DENOMS, coin.denom);
    const amount = decimal(coin.amount.trim());
    if (!token) fail([...cp, 'denom'], `unknown denom "${coin.denom.slice(0, 80)}" (uakt, uact, uusdc)`);
    if (coin.amount.trim().startsWith('-')) fail([...cp, 'amount'], `"${coin.amount}" is negative`);
    else if (!amount) fail([...cp, 'amount'], `"${coin.amount.slice(0, 40)}" is not a decimal amount`);
    else if (amount.int === 0n) fail([...cp, 'amount'], 'must be more than zero');
    if (token && amount && amount.int > 0n) {
      let cap: bigint | null = null;
      let src: ServicePlan['pricing']['source'] = 'no-rate';
      if (opts.maxPricePerHour !== undefined) {
        cap = opts.maxPricePerHour;
        src = 'max-price';
      } else if (opts.rates?.[token] !== undefined) {
        cap = perHourCap(amount, opts.rates[token]!, blockTimeMsOf(opts), Math.max(1, gpuUnits));
        src = 'sdl';
        if (cap <= 0n) fail([...cp, 'amount'], 'the price cap comes to zero ATH per hour at this rate');
      }
      pricing = {
        denom: coin.denom,
        amount: coin.amount.trim(),
        maxPricePerHour: cap?.toString() ?? null,
        source: src,
      };
    }
  }

  if (failed.n > 0 || typeof cpu === 'string' || typeof memory === 'string' || !pricing) return null;
  const list2 = (l: string[] | '' | undefined) => (l === undefined || l === '' ? null : l);
  const env = svc.env === '' || svc.env === undefined ? [] : svc.env;
  const plan: ServicePlan = {
    service: svcName,
    placement: placementName,
    profile: profileName,
    count,
    image: svc.image,
    command: list2(svc.command),
    args: list2(svc.args),
    envNames: env.map((kv) => kv.slice(0, kv.indexOf('='))),
    endpoint: wiring.endpoint,
    links: wiring.links,
    cpu: { millicores: cpu },
    memoryBytes: memory.toString(),
    storageBytes: rootBytes.toString(),
    volumes,
    gpu: { units: gpuUnits, choices },
    region,
    pricing,
  };
  ENV.set(
    plan,
    Object.fromEntries(env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
  );
  return plan;
}

/** Env values stay off the plan object (it is printed and saved): kept beside it, for the deploy to seal. */
const ENV = new WeakMap<ServicePlan, Record<string, string>>();

/** The env values of a planned service (names → values), to seal to its host. */
export function sdlEnvOf(s: ServicePlan): Record<string, string> {
  return { ...(ENV.get(s) ?? {}) };
}

function blockTimeMsOf(opts: PlanOptions): number {
  return opts.blockTimeMs ?? AKASH_BLOCK_TIME_S * 1000;
}

/**
 * A per-block price in micro-units → ATH units per GPU-hour, rounded down:
 * amount × 10⁻⁶ token/block × rate units/token × (3 600 000 / blockTimeMs) blocks/h ÷ GPUs.
 */
export function perHourCap(
  amount: Dec,
  rateUnitsPerToken: bigint,
  blockTimeMs: number,
  gpus: number,
): bigint {
  return (
    (amount.int * rateUnitsPerToken * 3_600_000n) /
    (10n ** BigInt(amount.scale) * 1_000_000n * BigInt(blockTimeMs) * BigInt(gpus))
  );
}

/** The cap for a written amount (for tests and the CLI's explanations). */
export function capForAmount(amount: string, rate: bigint, blockTimeMs: number, gpus: number): bigint {
  const d = decimal(amount);
  if (!d) throw new AethirError('INVALID_ARGUMENT', `"${amount}" is not a decimal amount`);
  return perHourCap(d, rate, blockTimeMs, gpus);
}

/**
 * Akash GPU model ids ("rtx4090", "rtx3090ti", "a100", "a4000", "h100") → Aethir model patterns,
 * matched as whole words of the registered model name ("NVIDIA GeForce RTX 4090" has "4090";
 * "NVIDIA RTX A4000" has "a4000"; "3090 ti" is two words). null: not a model id.
 */
export function aethirGpuModel(akash: string): string | null {
  const m = akash.trim().toLowerCase();
  if (!/^[a-z0-9][a-z0-9-]{0,39}$/.test(m)) return null;
  const geforce = /^(?:rtx|gtx)(\d{4})(ti|super)?$/.exec(m);
  if (geforce) return geforce[2] ? `${geforce[1]} ${geforce[2]}` : geforce[1]!;
  const ada = /^rtx(\d{4})ada$/.exec(m);
  if (ada) return `${ada[1]} ada`;
  const pro = /^rtx(a\d{4})$/.exec(m);
  if (pro) return pro[1]!;
  return m;
}

/** The plan, figures readable: what `deploy --dry-run` prints. */
export function describePlan(plan: DeploymentPlan, fmtAth: (units: string) => string): string {
  const gib = (b: string) => {
    const n = Number(BigInt(b)) / 2 ** 30;
    return `${Number.isInteger(n) ? n : n.toFixed(2)} GiB`;
  };
  const out: string[] = [
    `SDL ${plan.version}: ${plan.services.length} service placement${plan.services.length === 1 ? '' : 's'}, ${plan.leases} lease${plan.leases === 1 ? '' : 's'} (block time ${plan.blockTimeMs / 1000} s)`,
  ];
  for (const s of plan.services) {
    const gpu =
      s.gpu.units === 0
        ? 'no GPU'
        : `${s.gpu.units} GPU${s.gpu.units === 1 ? '' : 's'} of ${s.gpu.choices
            .map(
              (c) =>
                `${c.models ? c.models.join(' | ') : 'any model'}${c.minVramMiB ? ` (≥ ${c.minVramMiB / 1024} GiB)` : ''}`,
            )
            .join(', or ')}`;
    out.push(
      '',
      `${s.service} × ${s.count}  (profile ${s.profile}, placement ${s.placement})`,
      `  image      ${s.image}`,
      ...(s.command ? [`  command    ${JSON.stringify(s.command)}`] : []),
      ...(s.args ? [`  args       ${JSON.stringify(s.args).slice(0, 200)}`] : []),
      ...(s.envNames.length ? [`  env        ${s.envNames.join(', ')} (values sealed to the host)`] : []),
      `  resources  ${s.cpu.millicores / 1000} CPU, ${gib(s.memoryBytes)} memory, ${gib(s.storageBytes)} disk, ${gpu}`,
      ...s.volumes.map((v) =>
        v.kind === 'ram'
          ? `  volume     ${v.name} at ${v.mount}: ram, ${gib(v.sizeBytes)}`
          : `  volume     ${v.name} at ${v.mount}${v.readOnly ? ' (read-only)' : ''}: persistent, ${gib(v.sizeBytes)}${v.class !== 'default' ? ` (class ${v.class})` : ''}, an Aethir volume on each lease's host (kept or reused across deploys)`,
      ),
      `  endpoint   ${
        s.endpoint
          ? `port ${s.endpoint.port} (as ${s.endpoint.as}) at the lease's endpoint URL${s.endpoint.public ? '' : ' (not public: for the services it is exposed to)'}`
          : 'none'
      }`,
      ...s.links.map(
        (l) =>
          `  reaches    ${l.service} (port ${l.port}) at $${l.urlEnv}, with header x-aethir-lease-token: $${l.tokenEnv}`,
      ),
      `  region     ${s.region ?? 'any'}`,
      `  price cap  ${
        s.pricing.maxPricePerHour === null
          ? `none yet: ${s.pricing.amount} ${s.pricing.denom}/block needs a rate (--${DENOMS[s.pricing.denom]}-rate) or --max-price`
          : `${fmtAth(s.pricing.maxPricePerHour)}/${s.gpu.units ? 'GPU-' : ''}hour${s.pricing.source === 'sdl' ? ` (${s.pricing.amount} ${s.pricing.denom}/block)` : ' (--max-price)'}`
      }`,
    );
  }
  if (plan.notes.length) out.push('', ...plan.notes.map((n) => `note: ${n}`));
  return out.join('\n') + '\n';
}

/** ATH per whole token ("2.5") → units; rejects what parseAth rejects. */
export function rateUnits(text: string, flag: string): bigint {
  const m = /^(\d{1,12})(?:\.(\d{1,18}))?$/.exec(text.trim());
  if (!m) throw new AethirError('INVALID_ARGUMENT', `${flag} takes ATH per token, e.g. 2.5, got "${text}"`);
  const v = BigInt(m[1]!) * UNIT + BigInt((m[2] ?? '').padEnd(18, '0'));
  if (v === 0n) throw new AethirError('INVALID_ARGUMENT', `${flag} must be more than zero`);
  return v;
}
