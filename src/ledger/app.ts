import { z } from 'zod';
import { canonicalize } from '../core/canonical.js';

/**
 * Apps: a developer publishes a manifest (what to install, what to run, how many GPUs, where) with
 * `app.publish`; containers pre-install chosen apps once and report them ready in their
 * heartbeats; a lease naming an app (`workload.app`) runs the installed copy, with no install step.
 *
 * This is the manifest as the ledger holds it: the canonical form, always a `services` map whose
 * commands are argv arrays. What people write (a short form, strings for commands, a
 * docker-compose-like shape) is turned into this by `parseManifest` (src/container/apps/manifest.ts);
 * docs/apps.md describes both.
 */
export const APP_NAME_RE = /^[a-z0-9][a-z0-9-]{1,40}$/;
export const APP_VERSION_RE = /^\d{1,9}\.\d{1,9}\.\d{1,9}(?:-[0-9A-Za-z][0-9A-Za-z.-]{0,31})?$/;
export const SERVICE_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,40}$/;
const ENV_KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const REGION_RE = /^[a-z]{2,12}(-[a-z]{2,12})?$/;
/** canonical JSON of a manifest, in bytes: manifests live in the ledger state, so they stay small */
export const MAX_MANIFEST_BYTES = 16 * 1024;
/** one service per app for now: it is the session's main process (multi-service apps are planned) */
export const MAX_SERVICES = 1;

export const AppName = z
  .string()
  .regex(
    APP_NAME_RE,
    'must be 2 to 41 characters of lower-case letters, digits and "-", starting with a letter or digit',
  );
export const AppVersion = z
  .string()
  .regex(APP_VERSION_RE, 'must be a version like 1.0.0 or 1.2.3-beta.1 (MAJOR.MINOR.PATCH[-TAG])');

export const AppService = z
  .object({
    /** shell command lines (`sh -c`), run once, in order, in the app's directory when pre-installed */
    install: z.array(z.string().min(1).max(4096)).max(64).optional(),
    /** the session's process: argv (never through a shell), run in the lease's working directory */
    command: z.array(z.string().max(4096)).min(1).max(256),
    /** GPUs a session needs at least */
    gpus: z.number().int().min(0).max(64),
    env: z
      .record(z.string().regex(ENV_KEY_RE, 'must be an environment variable name'), z.string().max(4096))
      .optional(),
    /** ports the app serves on (declared for its users; a session's own port is $AETHIR_PORT) */
    ports: z.array(z.number().int().min(1).max(65535)).max(16).optional(),
  })
  .strict();
export type AppService = z.infer<typeof AppService>;

export const AppManifest = z
  .object({
    name: AppName,
    version: AppVersion,
    description: z.string().max(500).optional(),
    /** regions (or region prefixes, "eu") where the app may be installed; absent: anywhere */
    regions: z
      .array(z.string().regex(REGION_RE, 'must be a region such as eu or eu-west'))
      .min(1)
      .max(32)
      .optional(),
    services: z.record(
      z.string().regex(SERVICE_NAME_RE, 'must be a service name (a-z, 0-9, _ and -)'),
      AppService,
    ),
  })
  .strict()
  .superRefine((m, ctx) => {
    const names = Object.keys(m.services);
    if (names.length === 0)
      ctx.addIssue({ code: 'custom', path: ['services'], message: 'an app needs one service' });
    if (names.length > MAX_SERVICES)
      ctx.addIssue({
        code: 'custom',
        path: ['services'],
        message: `an app has exactly one service for now (got ${names.join(', ')}); multi-service apps are planned`,
      });
    const bytes = manifestBytes(m);
    if (bytes > MAX_MANIFEST_BYTES)
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: `the manifest is ${bytes} bytes as canonical JSON, at most ${MAX_MANIFEST_BYTES} are allowed`,
      });
  });
export type AppManifest = z.infer<typeof AppManifest>;

/** An app as the ledger holds it (`K.app(name)`): who owns the name and which versions exist. */
export interface AppRecord {
  name: string;
  /** the first publisher: the only one who may publish new versions */
  owner: string;
  /** the most recently published version */
  latest: string;
  /** every published version, oldest first; a version is never replaced */
  versions: string[];
  createdAt: number;
  updatedAt: number;
}

/** One published version of an app (`K.appRelease(name, version)`). */
export interface AppRelease {
  name: string;
  version: string;
  manifest: AppManifest;
  publishedAt: number;
}

/** One version of a published app, with the app's owner and all its versions (what the API serves). */
export interface PublishedApp extends AppRelease {
  owner: string;
  latest: string;
  versions: string[];
}

export function publishedApp(record: AppRecord, release: AppRelease): PublishedApp {
  return { ...release, owner: record.owner, latest: record.latest, versions: record.versions };
}

export function manifestBytes(m: unknown): number {
  return Buffer.byteLength(canonicalize(m), 'utf8');
}

/** The app's one service (the session's main process) and its name. */
export function mainService(m: AppManifest): { name: string; service: AppService } {
  const [name, service] = Object.entries(m.services)[0]!;
  return { name, service };
}

/** GPUs a session of this app needs at least. */
export function appGpus(m: AppManifest): number {
  return Object.values(m.services).reduce((s, v) => s + v.gpus, 0);
}

/** Whether a container in `region` may install an app published for `regions` (absent: anywhere). */
export function appAllowedIn(m: Pick<AppManifest, 'regions'>, region: string): boolean {
  return !m.regions || m.regions.some((r) => region === r || region.startsWith(`${r}-`));
}
