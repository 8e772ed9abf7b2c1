import { z } from 'zod';
import { AethirError } from '../../core/errors.js';
import {
  AppManifest,
  AppName,
  AppVersion,
  MAX_SERVICES,
  SERVICE_NAME_RE,
  type AppService,
} from '../../ledger/app.js';

/**
 * App manifests as people write them (docs/apps.md), turned into the canonical form the ledger
 * holds (`AppManifest` in src/ledger/app.ts). Two shapes are accepted, in JSON:
 *
 *  - the short form: `{ name, version, install?, run, gpus?, env?, ports?, regions?, description? }`,
 *    one service called "main";
 *  - a docker-compose-like form: `{ name, version, services: { <svc>: { install?, command, gpus?,
 *    env? | environment?, ports? } }, regions?, description? }`, with exactly one service for now.
 *
 * `install` is a shell line or a list of them (each run with `sh -c`); `run` / `command` is an argv
 * list, or a string run with `sh -c` (so `$AETHIR_APP_DIR` and pipes work). Every problem is
 * reported with its path, e.g. `services.web.command: required`.
 */

/** The service name the short form gets. */
export const SHORT_FORM_SERVICE = 'main';

/** A custom message, but "required" when the field is missing. */
const says = (message: string) => (iss: { input?: unknown }) =>
  iss.input === undefined ? 'required' : message;
const Lines = z.union(
  [z.string().min(1, 'must not be empty'), z.array(z.string().min(1, 'must not be empty'))],
  { error: says('must be a shell command line or a list of them') },
);
const Command = z.union(
  [
    z.string().min(1, 'must not be empty'),
    z.array(z.string(), { error: 'must be a list of strings' }).min(1, 'must not be an empty list'),
  ],
  { error: says('must be a command line (run with sh -c) or a list of program and arguments') },
);
const GPUS = 'must be a whole number of GPUs from 0 to 64';
const Gpus = z
  .number({ error: says(GPUS) })
  .int(GPUS)
  .min(0, GPUS)
  .max(64, GPUS);
const Env = z.union(
  [
    z.record(z.string(), z.union([z.string(), z.number(), z.boolean()], { error: 'must be a string' })),
    z.array(z.string().regex(/^[^=]+=/, 'must look like KEY=VALUE')),
  ],
  { error: says('must be a map of names to values, or a list of KEY=VALUE') },
);
const Port = z.union(
  [
    z.number().int().min(1, 'must be from 1 to 65535').max(65535, 'must be from 1 to 65535'),
    z.string().regex(/^(\d{1,5}:)?\d{1,5}$/, 'must be a port such as 8000 or "8080:8000"'),
  ],
  { error: 'must be a port number (1-65535)' },
);
const Ports = z.array(Port, { error: 'must be a list of ports' }).max(16, 'at most 16 ports');
const Regions = z.array(z.string(), { error: 'must be a list of regions such as ["eu", "us-west"]' });
const Description = z.string().max(500, 'must be at most 500 characters');

const ServiceInput = z
  .object({
    install: Lines.optional(),
    command: Command,
    gpus: Gpus.optional(),
    env: Env.optional(),
    environment: Env.optional(),
    ports: Ports.optional(),
  })
  .strict();

const ComposeInput = z
  .object({
    name: AppName,
    version: AppVersion,
    description: Description.optional(),
    regions: Regions.optional(),
    services: z.record(z.string(), ServiceInput, { error: 'must be a map of service names to services' }),
  })
  .strict();

const ShortInput = z
  .object({
    name: AppName,
    version: AppVersion,
    description: Description.optional(),
    regions: Regions.optional(),
    install: Lines.optional(),
    run: Command,
    gpus: Gpus.optional(),
    env: Env.optional(),
    ports: Ports.optional(),
  })
  .strict();

/** Hints for fields people bring from docker-compose or guess. */
const FIELD_HINTS: Record<string, string> = {
  image: 'not supported: apps install on the host with install steps, not from an image',
  build: 'not supported: use install steps',
  deploy: 'not supported: give gpus (the number of GPUs a session needs)',
  entrypoint: 'not supported: put the whole command in command',
  volumes: 'not supported: an installed app lives in $AETHIR_APP_DIR, a session works in its own directory',
  command: 'the short form calls it run (or use services.<name>.command)',
  run: 'a service calls it command',
  setup: 'did you mean install?',
  gpu: 'did you mean gpus?',
  region: 'did you mean regions (a list)?',
};

/**
 * A manifest (JSON text, or an already parsed object) in either accepted shape, as the canonical
 * manifest the ledger takes with `app.publish`; throws INVALID_ARGUMENT listing what is wrong.
 */
export function parseManifest(input: string | unknown): AppManifest {
  const raw = typeof input === 'string' ? parseText(input) : input;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw invalid([{ path: '(root)', message: 'must be a JSON object' }]);
  const obj = raw as Record<string, unknown>;
  const short = 'run' in obj || 'install' in obj || 'command' in obj;
  if ('services' in obj && short)
    throw invalid([
      {
        path: '(root)',
        message: 'give either services (the compose-like form) or run (the short form), not both',
      },
    ]);
  if (!('services' in obj) && !short)
    throw invalid([
      ...(obj.name === undefined ? [{ path: 'name', message: 'required' }] : []),
      ...(obj.version === undefined ? [{ path: 'version', message: 'required' }] : []),
      { path: 'services', message: 'required (or run, for the short form)' },
    ]);
  const canonical = 'services' in obj ? fromCompose(obj) : fromShort(obj);
  const r = AppManifest.safeParse(canonical);
  if (!r.success) throw invalid(issuesOf(r.error));
  return r.data;
}

function parseText(text: string): unknown {
  const t = text.replace(/^\uFEFF/, '').trim();
  if (t === '') throw invalid([{ path: '(root)', message: 'the manifest is empty' }]);
  if (!t.startsWith('{') && /^[A-Za-z_][\w-]*\s*:/m.test(t))
    throw invalid([
      {
        path: '(root)',
        message: 'this looks like YAML: write the manifest as JSON (docs/apps.md has examples)',
      },
    ]);
  try {
    return JSON.parse(t);
  } catch (e) {
    throw invalid([{ path: '(root)', message: `not valid JSON: ${(e as Error).message}` }]);
  }
}

function fromCompose(obj: Record<string, unknown>): unknown {
  const r = ComposeInput.safeParse(obj);
  if (!r.success) throw invalid(issuesOf(r.error));
  const m = r.data;
  const names = Object.keys(m.services);
  const problems: Problem[] = [];
  if (names.length === 0) problems.push({ path: 'services', message: 'an app needs one service' });
  if (names.length > MAX_SERVICES)
    problems.push({
      path: 'services',
      message: `an app has exactly one service for now (got ${names.join(', ')}); multi-service apps are planned`,
    });
  for (const n of names)
    if (!SERVICE_NAME_RE.test(n))
      problems.push({
        path: `services.${n}`,
        message: 'a service name is 1 to 41 characters of a-z, 0-9, _ and -, starting with a letter or digit',
      });
  const services: Record<string, AppService> = {};
  for (const [n, s] of Object.entries(m.services)) {
    if (s.env && s.environment)
      problems.push({ path: `services.${n}`, message: 'give env or environment, not both' });
    services[n] = service(s, `services.${n}`, problems);
  }
  if (problems.length) throw invalid(problems);
  return {
    name: m.name,
    version: m.version,
    ...(m.description !== undefined ? { description: m.description } : {}),
    ...(m.regions !== undefined ? { regions: m.regions } : {}),
    services,
  };
}

function fromShort(obj: Record<string, unknown>): unknown {
  const r = ShortInput.safeParse(obj);
  if (!r.success) throw invalid(issuesOf(r.error));
  const m = r.data;
  const problems: Problem[] = [];
  const main = service({ ...m, command: m.run }, '', problems);
  if (problems.length) throw invalid(problems);
  return {
    name: m.name,
    version: m.version,
    ...(m.description !== undefined ? { description: m.description } : {}),
    ...(m.regions !== undefined ? { regions: m.regions } : {}),
    services: { [SHORT_FORM_SERVICE]: main },
  };
}

function service(s: z.infer<typeof ServiceInput>, at: string, problems: Problem[]): AppService {
  const p = (field: string) => (at ? `${at}.${field}` : field);
  const install =
    s.install === undefined ? undefined : typeof s.install === 'string' ? [s.install] : s.install;
  const command = typeof s.command === 'string' ? ['sh', '-c', s.command] : s.command;
  const envIn = s.env ?? s.environment;
  let env: Record<string, string> | undefined;
  if (envIn !== undefined) {
    env = {};
    const pairs = Array.isArray(envIn)
      ? envIn.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const)
      : Object.entries(envIn).map(([k, v]) => [k, String(v)] as const);
    for (const [k, v] of pairs) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
        problems.push({ path: p(`env.${k}`), message: 'must be an environment variable name' });
      env[k] = v;
    }
  }
  const ports = s.ports?.map((x) => (typeof x === 'number' ? x : Number(x.split(':').pop())));
  ports?.forEach((x, i) => {
    if (!(x >= 1 && x <= 65535)) problems.push({ path: p(`ports.${i}`), message: 'must be from 1 to 65535' });
  });
  return {
    ...(install !== undefined ? { install } : {}),
    command,
    gpus: s.gpus ?? 0,
    ...(env !== undefined ? { env } : {}),
    ...(ports !== undefined ? { ports } : {}),
  };
}

interface Problem {
  path: string;
  message: string;
}

/** The zod issues in words: a missing field is "required", an unknown one says so (with a hint). */
function issuesOf(err: z.ZodError): Problem[] {
  const out: Problem[] = [];
  for (const i of err.issues) {
    const path = i.path.map(String).join('.');
    if (i.code === 'unrecognized_keys') {
      for (const k of i.keys)
        out.push({
          path: path ? `${path}.${k}` : k,
          message: `unknown field${FIELD_HINTS[k] ? `: ${FIELD_HINTS[k]}` : ''}`,
        });
      continue;
    }
    let message = i.message;
    if (i.code === 'invalid_type')
      message = / received undefined$/.test(i.message)
        ? 'required'
        : i.message.replace(/^Invalid input: /, '');
    out.push({ path: path || '(root)', message });
  }
  return out;
}

function invalid(problems: Problem[]): AethirError {
  const shown = problems.slice(0, 5).map((x) => `${x.path}: ${x.message}`);
  if (problems.length > 5) shown.push(`and ${problems.length - 5} more`);
  return new AethirError('INVALID_ARGUMENT', `invalid app manifest: ${shown.join('; ')}`, {
    details: { issues: problems },
  });
}
