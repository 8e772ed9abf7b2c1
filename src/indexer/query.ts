import { parseAth } from '../core/amount.js';
import { AethirError } from '../core/errors.js';
import { resolvePlace } from '../core/gazetteer.js';
import { GPU_CLASS_ORDER, type GpuClassName, type MatchRequest } from './request.js';

/**
 * The offers query language: clauses `field op value` separated by spaces, e.g.
 * `gpu_ram>=24 num_gpus>=2 region=eu price<2`. `aethir offers`, `rent --query` and
 * `GET /v1/offers?q=` all parse it here, into the indexer's match request, so what `offers`
 * lists is what `rent` then gets. A value with spaces or operator characters is quoted:
 * `near="Paris, FR"` (inside quotes, `\"` and `\\` escape).
 *
 * Errors are INVALID_ARGUMENT with `details.column` (1-based) pointing at the bad token, and the
 * message shows the query with a caret under it.
 */

export const QUERY_OPS = ['=', '!=', '<', '<=', '>', '>='] as const;
export type QueryOp = (typeof QUERY_OPS)[number];

export interface Clause {
  /** the field's canonical name (aliases resolved) */
  field: QueryField;
  op: QueryOp;
  /** the value as written, unquoted */
  value: string;
  /** 1-based column of the clause's first character */
  column: number;
  /** 1-based column of the value */
  valueColumn: number;
}

/** A request without the user: what a query can say. */
export type QueryRequest = Omit<MatchRequest, 'user' | 'strategy' | 'bidPerHour'>;

interface FieldDef {
  ops: readonly QueryOp[];
  help: string;
  example: string;
  apply: (req: QueryRequest, op: QueryOp, value: string, bad: (msg: string) => never) => void;
}

const num = (value: string, bad: (msg: string) => never, what: string): number => {
  if (!/^\d{1,9}(\.\d{1,9})?$/.test(value)) bad(`${what} must be a number, got "${value}"`);
  return Number(value);
};
const int = (value: string, bad: (msg: string) => never, what: string): number => {
  if (!/^\d{1,6}$/.test(value)) bad(`${what} must be a whole number, got "${value}"`);
  return Number(value);
};

const FIELDS = {
  num_gpus: {
    ops: ['=', '>=', '>'],
    help: 'GPUs on one host (0: a CPU lease)',
    example: 'num_gpus>=2',
    apply: (req, op, v, bad) => {
      const n = int(v, bad, 'num_gpus') + (op === '>' ? 1 : 0);
      if (n > 64) bad('num_gpus is at most 64');
      req.gpus = n;
    },
  },
  gpu_ram: {
    ops: ['>=', '>'],
    help: 'memory of each GPU, GiB',
    example: 'gpu_ram>=24',
    apply: (req, op, v, bad) => {
      const gib = num(v, bad, 'gpu_ram');
      if (gib > 10_000) bad('gpu_ram is at most 10000 GiB');
      req.minVramMiB = Math.ceil(gib * 1024) + (op === '>' ? 1 : 0);
    },
  },
  gpu_model: {
    ops: ['='],
    help: 'a word of the GPU model ("4090", "H100"); several: 4090,A100',
    example: 'gpu_model=4090',
    apply: (req, _op, v, bad) => {
      const models = v.split(',').map((m) => m.trim());
      if (models.some((m) => m === '' || m.length > 80) || models.length > 16)
        bad('gpu_model takes up to 16 comma-separated model names');
      req.gpuModels = models;
    },
  },
  gpu_class: {
    ops: ['>=', '>'],
    help: `the weakest GPU class: ${GPU_CLASS_ORDER.join(' < ')}`,
    example: 'gpu_class>=a100',
    apply: (req, op, v, bad) => {
      const i = GPU_CLASS_ORDER.indexOf(v.toLowerCase() as GpuClassName);
      if (i < 0) bad(`gpu_class is one of ${GPU_CLASS_ORDER.join(', ')}, got "${v}"`);
      const j = i + (op === '>' ? 1 : 0);
      if (j >= GPU_CLASS_ORDER.length) bad(`no GPU class is above ${v}`);
      req.minGpuClass = GPU_CLASS_ORDER[j]!;
    },
  },
  compute_cap: {
    ops: ['>='],
    help: 'CUDA compute capability of each GPU, e.g. 8.0',
    example: 'compute_cap>=8.0',
    apply: (req, _op, v, bad) => {
      if (!/^\d{1,2}(\.\d)?$/.test(v)) bad(`compute_cap must be like 8.6, got "${v}"`);
      req.minComputeCapability = Number(v);
    },
  },
  region: {
    ops: ['='],
    help: 'region or region prefix: eu, eu-west, us, ap…',
    example: 'region=eu',
    apply: (req, _op, v, bad) => {
      if (!/^[a-z]{2,12}(-[a-z]{2,12})?$/.test(v)) bad(`region must be like eu or eu-west, got "${v}"`);
      req.region = v;
    },
  },
  near: {
    ops: ['='],
    help: 'where you are, for latency: a city ("Paris, FR") or "lat,lon"',
    example: 'near="Paris, FR"',
    apply: (req, _op, v, bad) => {
      try {
        const p = resolvePlace(v);
        req.location = { lat: p.lat, lon: p.lon };
      } catch (e) {
        bad((e as Error).message);
      }
    },
  },
  latency: {
    ops: ['<='],
    help: 'highest estimated round trip to you, ms (needs near or region)',
    example: 'latency<=40',
    apply: (req, _op, v, bad) => {
      const ms = num(v, bad, 'latency');
      if (!(ms > 0 && ms <= 10_000)) bad('latency is from 1 to 10000 ms');
      req.maxLatencyMs = ms;
    },
  },
  price: {
    ops: ['<', '<='],
    help: 'highest price, ATH per GPU-hour (per hour for CPU leases)',
    example: 'price<2',
    apply: (req, op, v, bad) => {
      let units = 0n;
      try {
        units = parseAth(v);
      } catch {
        bad(`price must be an ATH amount like 2 or 0.5, got "${v}"`);
      }
      if (op === '<' && units === 0n) bad('nothing costs less than 0');
      req.maxPricePerHour = op === '<' ? units - 1n : units;
    },
  },
  reputation: {
    ops: ['>='],
    help: "reliability, 0 to 1, from the checkers' verdicts (uptime, capacity, location, QoS, slashes)",
    example: 'reputation>=0.9',
    apply: (req, _op, v, bad) => {
      const r = num(v, bad, 'reputation');
      if (r > 1) bad('reputation is from 0 to 1');
      req.minReputation = r;
    },
  },
  sandbox: {
    ops: ['=', '!='],
    help: 'true: only hosts that run every workload in the lease sandbox; false: any host',
    example: 'sandbox=true',
    apply: (req, op, v, bad) => {
      if (v !== 'true' && v !== 'false') bad(`sandbox is true or false, got "${v}"`);
      req.isolation = (v === 'true') === (op === '=') ? 'sandbox' : 'any';
    },
  },
  app: {
    ops: ['='],
    help: 'an app the host has pre-installed (name or name@version)',
    example: 'app=llm-chat',
    apply: (req, _op, v, bad) => {
      if (v.length > 120) bad('app is at most 120 characters');
      req.app = v;
    },
  },
} satisfies Record<string, FieldDef>;

export type QueryField = keyof typeof FIELDS;
const ALIASES: Record<string, QueryField> = {
  gpus: 'num_gpus',
  vram: 'gpu_ram',
  gpu_name: 'gpu_model',
  model: 'gpu_model',
  reliability: 'reputation',
  location: 'near',
  rtt: 'latency',
  dph: 'price',
};

/** The fields, their operators and meaning: for `--help` and the docs. */
export function queryFieldsHelp(): Array<{ field: string; ops: string; help: string; example: string }> {
  return Object.entries(FIELDS).map(([field, d]) => {
    const aliases = Object.entries(ALIASES)
      .filter(([, f]) => f === field)
      .map(([a]) => a);
    return {
      field: aliases.length ? `${field} (${aliases.join(', ')})` : field,
      ops: d.ops.join(' '),
      help: d.help,
      example: d.example,
    };
  });
}

/** The error for a query, pointing at `column` (1-based). */
function queryError(query: string, column: number, msg: string): AethirError {
  const shown = query.replace(/[\r\n\t]/g, ' ');
  return new AethirError(
    'INVALID_ARGUMENT',
    `bad query at column ${column}: ${msg}\n  ${shown}\n  ${' '.repeat(column - 1)}^`,
    { details: { column, query } },
  );
}

const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r';
const OP_CHARS = '<>=!';
const isBare = (c: string) => !isSpace(c) && !OP_CHARS.includes(c) && c !== '"';
const MAX_QUERY_LENGTH = 2000;

/** Splits a query into clauses. Throws INVALID_ARGUMENT (details.column) at the first bad token. */
export function parseClauses(query: string): Clause[] {
  if (typeof query !== 'string') throw queryError('', 1, 'a query is text');
  if (query.length > MAX_QUERY_LENGTH)
    throw queryError(query.slice(0, 80), 1, `a query is at most ${MAX_QUERY_LENGTH} characters`);
  const out: Clause[] = [];
  const seen = new Set<QueryField>();
  let i = 0;
  const n = query.length;
  const fail = (at: number, msg: string): never => {
    throw queryError(query, at + 1, msg);
  };
  const describe = (at: number) => (at >= n ? 'the end' : JSON.stringify(query[at]));
  for (;;) {
    while (i < n && isSpace(query[i]!)) i++;
    if (i >= n) break;
    const start = i;
    while (i < n && /[A-Za-z0-9_]/.test(query[i]!)) i++;
    if (i === start) fail(start, `expected a field name, found ${describe(start)}`);
    const name = query.slice(start, i).toLowerCase();
    const field: QueryField | undefined =
      name in FIELDS ? (name as QueryField) : Object.hasOwn(ALIASES, name) ? ALIASES[name] : undefined;
    if (!field) fail(start, `unknown field "${name}"; fields: ${Object.keys(FIELDS).join(', ')}`);
    const opStart = i;
    let op: QueryOp | undefined;
    const two = query.slice(i, i + 2);
    if (two === '>=' || two === '<=' || two === '!=') op = two;
    else if (query[i] === '=' || query[i] === '<' || query[i] === '>') op = query[i] as QueryOp;
    if (!op)
      fail(opStart, `expected an operator (${QUERY_OPS.join(' ')}) after "${name}", found ${describe(i)}`);
    i += op!.length;
    const valueStart = i;
    let value = '';
    if (query[i] === '"') {
      i++;
      let closed = false;
      while (i < n) {
        const c = query[i]!;
        if (c === '\\' && i + 1 < n) {
          value += query[i + 1];
          i += 2;
          continue;
        }
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        value += c;
        i++;
      }
      if (!closed) fail(valueStart, 'this quote is never closed');
    } else {
      while (i < n && isBare(query[i]!)) value += query[i++];
      if (value === '')
        fail(valueStart, `expected a value after "${name}${op}", found ${describe(valueStart)}`);
    }
    if (i < n && !isSpace(query[i]!))
      fail(i, `expected a space before the next clause, found ${describe(i)}`);
    const def: FieldDef = FIELDS[field!];
    if (!def.ops.includes(op!))
      fail(opStart, `${field} takes ${def.ops.join(' ')}, not ${op} (e.g. ${def.example})`);
    if (seen.has(field!)) fail(start, `${field} is given twice`);
    seen.add(field!);
    out.push({ field: field!, op: op!, value, column: start + 1, valueColumn: valueStart + 1 });
  }
  return out;
}

/**
 * A query as the indexer's request (without the user). Values are checked here: a bad one is
 * INVALID_ARGUMENT pointing at it. An empty query is every offer (CPU leases: `num_gpus` 0).
 */
export function parseQuery(query: string): QueryRequest {
  const req: QueryRequest = { gpus: 0 };
  for (const c of parseClauses(query)) {
    const bad = (msg: string): never => {
      throw queryError(query, c.valueColumn, msg);
    };
    (FIELDS[c.field] as FieldDef).apply(req, c.op, c.value, bad);
  }
  return req;
}

/**
 * The isolation a request gets when it names none, the same for `offers` and `rent`: GPU leases
 * only on hosts that sandbox every workload, CPU leases anywhere (docs/security.md).
 */
export function defaultIsolation(gpus: number): 'sandbox' | 'any' {
  return gpus > 0 ? 'sandbox' : 'any';
}

/** A value as the parser reads it back: bare where it can be, else quoted. */
function quoteValue(v: string): string {
  if (v !== '' && [...v].every(isBare)) return v;
  return `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** Clauses back to a query string: `parseClauses(formatClauses(cs))` gives the same clauses. */
export function formatClauses(cs: ReadonlyArray<Pick<Clause, 'field' | 'op' | 'value'>>): string {
  return cs.map((c) => `${c.field}${c.op}${quoteValue(c.value)}`).join(' ');
}

/** Every field and the operators it takes (for tests and completion). */
export const QUERY_FIELDS: Readonly<Record<QueryField, readonly QueryOp[]>> = Object.fromEntries(
  Object.entries(FIELDS).map(([f, d]) => [f, d.ops]),
) as unknown as Record<QueryField, readonly QueryOp[]>;
