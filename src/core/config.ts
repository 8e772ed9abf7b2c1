import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { AethirError } from './errors.js';

/**
 * Node configuration, resolved in layers: defaults -> config file -> environment (AETHIR_*)
 * -> command-line flags. One zod schema validates the merged result so a typo anywhere is a
 * clear CONFIG_INVALID error naming the field, not a crash later.
 */
export const ConfigSchema = z.object({
  home: z.string().min(1),
  dataDir: z.string().min(1),
  host: z.string().min(1),
  port: z.coerce.number().int().min(0).max(65535),
  chainId: z.string().regex(/^[a-z0-9-]{3,64}$/),
  heartbeatIntervalMs: z.coerce.number().int().min(100).max(3_600_000),
  offlineAfterMs: z.coerce.number().int().min(300).max(86_400_000),
  checkIntervalMs: z.coerce.number().int().min(100).max(3_600_000),
  reservationTtlMs: z.coerce.number().int().min(100).max(600_000),
  settleIntervalMs: z.coerce.number().int().min(500).max(86_400_000),
  demoContainers: z.coerce.number().int().min(0).max(500),
  containerPriceAth: z.string().regex(/^\d+(\.\d{1,18})?$/),
  containerLocation: z.string().min(1),
  /** apps the devnet's own container pre-installs, comma-separated names ('' for none; docs/apps.md) */
  containerApps: z
    .string()
    .regex(
      /^([a-z0-9][a-z0-9-]{1,40}(,[a-z0-9][a-z0-9-]{1,40})*)?$/,
      'must be app names separated by commas',
    ),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  /**
   * the devnet's Proof-of-Capacity epoch in seconds; every check cadence scales with it (probes
   * and QoS every epoch/15, location every epoch, capacity every 96 epochs). Default 900 (15 min).
   */
  epochSeconds: z.coerce.number().int().min(1).max(86_400),
  /** how long a new devnet's unstaked stakes unbond before they can be withdrawn, seconds (absent: the ledger's default, 180 days) */
  unbondingSeconds: z.coerce
    .number()
    .int()
    .min(0)
    .max(730 * 86_400)
    .optional(),
  /**
   * how long a new devnet keeps a lease whose escrow ran out paused (files kept) for a top-up
   * before it closes, seconds (params.pauseGraceMs; default 600)
   */
  pauseGraceSeconds: z.coerce
    .number()
    .int()
    .min(1)
    .max(30 * 86_400),
  /** a new devnet's preemption notice for interruptible leases, ms (absent: 30 s) */
  preemptNoticeMs: z.coerce.number().int().min(0).max(3_600_000).optional(),
  /** GPUs the devnet's own container declares instead of probing, e.g. "1x H100 80GB" ('' probes) */
  containerDeclareGpus: z.string().max(200),
  /**
   * how this node's container isolates workloads: sandbox (refuse where the machine cannot),
   * none (registered: users see it), auto (sandbox where possible, else none with a warning)
   */
  containerIsolation: z.enum(['sandbox', 'none', 'auto']),
  /** memory one lease of this node's container may use, MiB (0: its share of the host; enforced when sandboxed) */
  containerLeaseMemoryMiB: z.coerce
    .number()
    .int()
    .min(0)
    .max(1 << 30),
  /** API limits (src/api/limits.ts; README "API limits") */
  apiRequestTimeoutMs: z.coerce.number().int().min(1000).max(3_600_000),
  apiHeadersTimeoutMs: z.coerce.number().int().min(1000).max(3_600_000),
  apiKeepAliveTimeoutMs: z.coerce.number().int().min(100).max(3_600_000),
  apiBodyLimitBytes: z.coerce
    .number()
    .int()
    .min(1024)
    .max(1 << 30),
  apiMaxJsonDepth: z.coerce.number().int().min(4).max(1000),
  apiMaxConnections: z.coerce.number().int().min(1).max(1_000_000),
  apiMaxConnectionsPerIp: z.coerce.number().int().min(1).max(1_000_000),
  apiMaxStreamsPerIp: z.coerce.number().int().min(1).max(1_000_000),
  apiRateLimitPerMinute: z.coerce.number().int().min(1).max(100_000_000),
  apiMatchRateLimitPerMinute: z.coerce.number().int().min(1).max(100_000_000),
  /** reservations one account may hold at once (signed POST /v1/match) */
  maxReservationsPerAccount: z.coerce.number().int().min(1).max(10_000),
});
export type Config = z.infer<typeof ConfigSchema>;

/** The configuration keys that are API limits, as `--limit NAME=VALUE` and AETHIR_* names take them. */
export const LIMIT_KEYS = [
  'apiRequestTimeoutMs',
  'apiHeadersTimeoutMs',
  'apiKeepAliveTimeoutMs',
  'apiBodyLimitBytes',
  'apiMaxJsonDepth',
  'apiMaxConnections',
  'apiMaxConnectionsPerIp',
  'apiMaxStreamsPerIp',
  'apiRateLimitPerMinute',
  'apiMatchRateLimitPerMinute',
  'maxReservationsPerAccount',
] as const satisfies ReadonlyArray<keyof Config>;

export function defaultHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.AETHIR_HOME ? resolve(env.AETHIR_HOME) : join(homedir(), '.aethir');
}

export function defaultConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const home = defaultHome(env);
  return {
    home,
    dataDir: join(home, 'devnet'),
    host: '127.0.0.1',
    port: DEFAULT_PORT,
    chainId: 'aethir-devnet',
    // Aethir's production cadence is one heartbeat a minute; a local devnet reacts in seconds.
    heartbeatIntervalMs: 2_000,
    offlineAfterMs: 7_000,
    checkIntervalMs: 1_000,
    reservationTtlMs: 15_000,
    // Hosts collect payment for running leases this often (Aethir pays hosts daily).
    settleIntervalMs: 60_000,
    demoContainers: 0,
    containerPriceAth: '0.1',
    containerLocation: 'Frankfurt, DE',
    containerApps: '',
    logLevel: 'warn',
    epochSeconds: 900,
    pauseGraceSeconds: 600,
    containerDeclareGpus: '',
    containerIsolation: 'auto',
    containerLeaseMemoryMiB: 0,
    apiRequestTimeoutMs: 30_000,
    apiHeadersTimeoutMs: 10_000,
    apiKeepAliveTimeoutMs: 5_000,
    apiBodyLimitBytes: 1 << 20,
    apiMaxJsonDepth: 64,
    apiMaxConnections: 4096,
    apiMaxConnectionsPerIp: 256,
    apiMaxStreamsPerIp: 16,
    apiRateLimitPerMinute: 6000,
    apiMatchRateLimitPerMinute: 120,
    maxReservationsPerAccount: 3,
  };
}

export const DEFAULT_PORT = 7420;
export const DEFAULT_API = `http://127.0.0.1:${DEFAULT_PORT}`;

const ENV_MAP: Record<string, keyof Config> = {
  AETHIR_DATA: 'dataDir',
  AETHIR_HOST: 'host',
  AETHIR_PORT: 'port',
  AETHIR_CHAIN_ID: 'chainId',
  AETHIR_HEARTBEAT_MS: 'heartbeatIntervalMs',
  AETHIR_OFFLINE_AFTER_MS: 'offlineAfterMs',
  AETHIR_CHECK_INTERVAL_MS: 'checkIntervalMs',
  AETHIR_SETTLE_MS: 'settleIntervalMs',
  AETHIR_DEMO_CONTAINERS: 'demoContainers',
  AETHIR_CONTAINER_APPS: 'containerApps',
  AETHIR_LOG_LEVEL: 'logLevel',
  AETHIR_EPOCH_SECONDS: 'epochSeconds',
  AETHIR_PAUSE_GRACE_SECONDS: 'pauseGraceSeconds',
  AETHIR_PREEMPT_NOTICE_MS: 'preemptNoticeMs',
  // API limits: AETHIR_API_REQUEST_TIMEOUT_MS, AETHIR_MAX_RESERVATIONS_PER_ACCOUNT, ...
  ...Object.fromEntries(
    LIMIT_KEYS.map((k) => [`AETHIR_${k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`, k]),
  ),
};

export function loadConfig(opts: {
  env?: NodeJS.ProcessEnv;
  file?: string;
  flags?: Partial<Record<keyof Config, unknown>>;
}): Config {
  const env = opts.env ?? process.env;
  const merged: Record<string, unknown> = { ...defaultConfig(env) };
  const file = opts.file ?? env.AETHIR_CONFIG;
  if (file) {
    if (!existsSync(file)) throw new AethirError('CONFIG_INVALID', `config file not found: ${file}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new AethirError('CONFIG_INVALID', `config file ${file} is not valid JSON`, { cause: e });
    }
    if (!parsed || typeof parsed !== 'object')
      throw new AethirError('CONFIG_INVALID', `config file ${file} must hold an object`);
    Object.assign(merged, parsed);
  }
  for (const [name, key] of Object.entries(ENV_MAP))
    if (env[name] !== undefined && env[name] !== '') merged[key] = env[name];
  for (const [k, v] of Object.entries(opts.flags ?? {})) if (v !== undefined) merged[k] = v;
  const r = ConfigSchema.strict().safeParse(merged);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new AethirError(
      'CONFIG_INVALID',
      `invalid configuration: ${issue.path.join('.') || '(root)'}: ${issue.message}`,
      {
        details: { issues: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
      },
    );
  }
  return { ...r.data, dataDir: resolve(r.data.dataDir), home: resolve(r.data.home) };
}
