import { z } from 'zod';
import type { HeartbeatMsg, LeaseLogMsg, LeaseOpenedMsg, LeaseReceiptMsg } from './subjects.js';
import { subjectMatches } from './subject.js';

/**
 * Schemas of every message on the bus. A bus that crosses a process boundary (NatsBus, or
 * MemoryBus with `validate`) checks each message on receipt, so a peer running another version,
 * or a hostile one, can at worst get its own message dropped; it can never hand a handler a
 * shape the code was not written for. Bigints arrive as bigints (the wire encoding keeps them).
 */

const Token = z.string().regex(/^[^\s.*>]+$/, 'must be one subject token');

export const HeartbeatSchema = z.object({
  container: Token,
  at: z.number(),
  freeGpus: z.number().int().min(0),
  runningLeases: z.number().int().min(0),
  load: z.number().min(0).max(10_000).optional(),
  draining: z.boolean().optional(),
  endpoint: z
    .string()
    .max(200)
    .regex(/^https?:\/\/[^\s/]+$/, 'must be a base URL such as http://host:port')
    .optional(),
  apps: z.array(z.string().max(100)).max(256).optional(),
  runtime: z.enum(['docker', 'host-process']).optional(),
  images: z.array(z.string().max(600)).max(64).optional(),
  sig: z
    .string()
    .regex(/^[0-9a-f]{64}\.[0-9a-f]{128}$/)
    .optional(),
});

const WorkloadSchema = z.object({
  command: z.array(z.string()).min(1).optional(),
  app: z.string().max(64).optional(),
  version: z.string().max(64).optional(),
  env: z.record(z.string(), z.string()).optional(),
  sealedEnv: z.record(z.string(), z.string()).optional(),
  publicEndpoint: z.boolean().optional(),
  image: z.string().max(512).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  volumes: z
    .array(
      z.object({ volume: z.string().max(64), path: z.string().max(256), readOnly: z.boolean().optional() }),
    )
    .max(8)
    .optional(),
});

export const LeaseSchema = z.object({
  id: Token,
  user: z.string(),
  container: Token,
  gpus: z.number().int().min(0),
  pricePerHour: z.bigint(),
  maxDurationSec: z.number(),
  openEnded: z.boolean(),
  workload: WorkloadSchema,
  escrow: z.bigint(),
  charged: z.bigint(),
  hostShare: z.bigint(),
  protocolShare: z.bigint(),
  openedAt: z.number(),
  settledAt: z.number(),
  closedAt: z.number().nullable(),
  status: z.enum(['open', 'paused', 'closed']),
  exitCode: z.number().nullable(),
  closeReason: z.string().nullable(),
  closedBy: z.string().nullable(),
  lastReceiptSeq: z.number().int().min(0),
  receiptServedMs: z.number().int().min(0),
  pausedAt: z.number().int().nullable().optional(),
  pausedMs: z.number().int().min(0).optional(),
  reservation: Token.optional(),
  interruptible: z.boolean().optional(),
  preemptedAt: z.number().optional(),
  preemptStopAt: z.number().optional(),
  preemptedBy: Token.optional(),
  resumes: Token.optional(),
  topUpLimit: z.bigint().optional(),
  toppedUpByHost: z.bigint().optional(),
});

export const LeaseOpenedSchema = z.object({ lease: LeaseSchema });
export const LeaseClosedSchema = z.object({ lease: Token });
export const LeasePreemptedSchema = z.object({ lease: Token, stopAt: z.number() });

export const LeaseOutputSchema = z.object({
  lease: Token,
  type: z.enum(['stdout', 'stderr']),
  data: z.string(),
  at: z.number(),
});

export const LeaseExitSchema = z.object({
  lease: Token,
  type: z.literal('exit'),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  reason: z.enum(['exited', 'killed', 'timeout', 'start-failed']),
  at: z.number(),
  message: z.string().optional(),
  limit: z.enum(['wallSeconds', 'cpuSeconds', 'diskMiB', 'memoryMiB', 'pids']).optional(),
});

/**
 * A usage receipt as the user signed it. The bus checks its shape only; the signature (and that
 * the signer is the lease's user) is checked by the API node that takes it and again by the
 * agent and the ledger, which are the ones that rely on it.
 */
export const LeaseReceiptSchema = z.object({
  lease: Token,
  servedMs: z.number().int().min(0),
  seq: z.number().int().min(1),
  at: z.number().int().min(0),
  samples: z
    .array(
      z.object({
        at: z.number().int().min(0),
        latencyMs: z.number().int().min(0).optional(),
        ok: z.boolean(),
        // (a game session's; the signature covers every field, so none may be dropped here)
        fps: z.number().int().min(0).optional(),
        inputToPhotonMs: z.number().int().min(0).optional(),
      }),
    )
    .max(16)
    .optional(),
  pubkey: z.string().regex(/^[0-9a-f]{64}$/),
  sig: z.string().regex(/^[0-9a-f]{128}$/),
});

/**
 * Match requests have one schema, MatchRequestSchema of src/indexer/request.ts: the API checks
 * its body against it (as JSON) before sending, and the indexer node checks what it takes off
 * the bus against it (parseMatchRequest) before matching. The reply is the indexer's answer in
 * JSON-safe form. The bus itself only insists on objects, so that a new match option needs no
 * bus change.
 */
export const MatchRequestSchema = z.record(z.string(), z.unknown());
export const MatchReplySchema = z.record(z.string(), z.unknown());

/**
 * A checker's request to one container (`check.<container>`, served by the container): a direct
 * liveness probe, or one step of a Proof-of-Capacity session relayed to the container's prover
 * (the step is a checker message of src/capacity/protocol.ts, or `{"type":"start"}` to
 * start a session; the reply's `message` is the prover's answer, checked by the checker with
 * parseProverMessage). The container answers only what it is asked; nothing here is trusted.
 */
/** A checker's signature on a capacity start or a storage challenge (src/core/check-auth.ts). */
const CheckerAuthSchema = z.strictObject({
  publicKey: z.string().max(128),
  at: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  signature: z.string().max(256),
});

export const CheckRequestSchema = z.discriminatedUnion('op', [
  z.strictObject({
    op: z.literal('probe'),
    checker: z.string().min(1).max(100),
    nonce: z.string().regex(/^[0-9a-f]{16,64}$/),
  }),
  z.strictObject({
    op: z.literal('storage'),
    checker: z.string().min(1).max(100),
    volume: Token.max(64),
    nonce: z.string().regex(/^[0-9a-f]{16,64}$/),
    /** canary block numbers (distinct; checked against CANARY_BLOCKS by the host) */
    blocks: z.array(z.number().int().min(0).max(1023)).min(1).max(64),
    /** the checker's signature (src/core/check-auth.ts storageChallengeId); a host may refuse one without */
    auth: CheckerAuthSchema.optional(),
  }),
  z.strictObject({
    op: z.literal('capacity'),
    checker: z.string().min(1).max(100),
    session: Token.max(100),
    message: z.record(z.string(), z.unknown()),
    /** the checker's signature on a start (src/core/check-auth.ts); a host may refuse a start without */
    auth: CheckerAuthSchema.optional(),
    /** the checker's signature on a later step of a signed session (src/core/check-auth.ts) */
    step: z
      .strictObject({
        seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
        signature: z.string().max(256),
      })
      .optional(),
  }),
]);
export type CheckRequest = z.infer<typeof CheckRequestSchema>;

/**
 * A page of a lease's kept log (`logs.<container>`): from byte `offset` of the host's file. The
 * token is the user's lease token (scope `logs`): the container checks it against the lease's
 * user on the ledger, as the API did.
 */
export const LogsRequestSchema = z.strictObject({
  lease: Token.max(128),
  token: z.string().min(1).max(2000),
  offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
});
export type LogsRequest = z.infer<typeof LogsRequestSchema>;
const LogEventSchema = z.union([
  LeaseOutputSchema.omit({ lease: true }),
  LeaseExitSchema.omit({ lease: true }),
]);
export const LogsReplySchema = z.strictObject({
  events: z.array(LogEventSchema).max(100_000),
  next: z.number().int().min(0),
  size: z.number().int().min(0),
});
export type LogsReply = z.infer<typeof LogsReplySchema>;
export const CheckReplySchema = z.record(z.string(), z.unknown());

/** Subjects served with request/reply (the container role's subjects are in src/bus/subjects.ts). */
export const rpcSubjects = {
  match: 'match.request',
  /** every indexer joins this queue group, so each match is answered by exactly one of them */
  matchQueue: 'indexer',
  /** what a request could get, best first, reserving nothing (answered in the same queue group) */
  offers: 'offers.request',
} as const;

/** How a responder's answer travels: exactly one of the two keys. */
export const ReplyEnvelopeSchema = z.union([
  z.strictObject({ error: z.object({ code: z.string().min(1), message: z.string() }) }),
  z.strictObject({ result: z.unknown() }),
]);
export type ReplyEnvelope = { result: unknown } | { error: { code: string; message: string } };

export type SubjectKind =
  | 'hb'
  | 'lease.opened'
  | 'lease.closed'
  | 'lease.preempted'
  | 'lease.log'
  | 'lease.exit'
  | 'lease.receipt'
  | 'match'
  | 'offers'
  | 'check'
  | 'logs';

interface SubjectEntry {
  kind: SubjectKind;
  pattern: string;
  schema: z.ZodType;
  /** the schema of a reply, for request/reply subjects */
  reply?: z.ZodType;
  /**
   * Which subject token must equal which field of the message: a heartbeat for container A
   * published on B's subject would otherwise be filed under A by some subscribers and B by others.
   */
  key?: { token: number; field: (m: never) => string };
}

// Order matters: lease.opened.* and lease.closed.* are checked before lease.*.log / lease.*.exit /
// lease.*.receipt so that a lease that happened to be called "opened" cannot change how its subject is read.
const registry: readonly SubjectEntry[] = [
  {
    kind: 'hb',
    pattern: 'hb.*',
    schema: HeartbeatSchema,
    key: { token: 1, field: (m: HeartbeatMsg) => m.container },
  },
  {
    kind: 'lease.opened',
    pattern: 'lease.opened.*',
    schema: LeaseOpenedSchema,
    key: { token: 2, field: (m: LeaseOpenedMsg) => m.lease.container },
  },
  { kind: 'lease.closed', pattern: 'lease.closed.*', schema: LeaseClosedSchema },
  { kind: 'lease.preempted', pattern: 'lease.preempted.*', schema: LeasePreemptedSchema },
  {
    kind: 'lease.log',
    pattern: 'lease.*.log',
    schema: LeaseOutputSchema,
    key: { token: 1, field: (m: LeaseLogMsg) => m.lease },
  },
  {
    kind: 'lease.exit',
    pattern: 'lease.*.exit',
    schema: LeaseExitSchema,
    key: { token: 1, field: (m: LeaseLogMsg) => m.lease },
  },
  {
    kind: 'lease.receipt',
    pattern: 'lease.*.receipt',
    schema: LeaseReceiptSchema,
    key: { token: 1, field: (m: LeaseReceiptMsg) => m.lease },
  },
  { kind: 'match', pattern: rpcSubjects.match, schema: MatchRequestSchema, reply: MatchReplySchema },
  { kind: 'offers', pattern: rpcSubjects.offers, schema: MatchRequestSchema, reply: MatchReplySchema },
  { kind: 'check', pattern: 'check.*', schema: CheckRequestSchema, reply: CheckReplySchema },
  { kind: 'logs', pattern: 'logs.*', schema: LogsRequestSchema, reply: LogsReplySchema },
];

function entryFor(subject: string): SubjectEntry | undefined {
  return registry.find((e) => subjectMatches(e.pattern, subject));
}

/** The schema of messages on `subject`; undefined for subjects Aethir does not define. */
export function schemaFor(subject: string): z.ZodType | undefined {
  return entryFor(subject)?.schema;
}

/** The schema of replies to requests on `subject`, for request/reply subjects. */
export function replySchemaFor(subject: string): z.ZodType | undefined {
  return entryFor(subject)?.reply;
}

/** A short, bounded label for counters: the kind of an Aethir subject, else 'other'. */
export function subjectKind(subject: string): SubjectKind | 'other' {
  return entryFor(subject)?.kind ?? 'other';
}

/** The registered subject patterns, for documentation and tests. */
export function subjectPatterns(): ReadonlyArray<{ kind: SubjectKind; pattern: string }> {
  return registry.map(({ kind, pattern }) => ({ kind, pattern }));
}

export type Checked =
  { ok: true; data: unknown } | { ok: false; kind: SubjectKind | 'other'; reason: string };

/**
 * Checks a received message against its subject's schema. Subjects without a schema pass
 * unchanged (tests and future subjects); a valid message is returned as parsed, which drops
 * fields the schema does not know.
 */
export function checkMessage(subject: string, data: unknown): Checked {
  const e = entryFor(subject);
  if (!e) return { ok: true, data };
  const r = e.schema.safeParse(data);
  if (!r.success) return { ok: false, kind: e.kind, reason: summarize(r.error) };
  if (e.key) {
    const want = subject.split('.')[e.key.token];
    const got = (e.key.field as (m: unknown) => string)(r.data);
    if (got !== want) return { ok: false, kind: e.kind, reason: `subject names ${want}, message ${got}` };
  }
  return { ok: true, data: r.data };
}

/** Checks a reply to a request on `subject` (its envelope was already unwrapped). */
export function checkReply(subject: string, data: unknown): Checked {
  const e = entryFor(subject);
  if (!e?.reply) return { ok: true, data };
  const r = e.reply.safeParse(data);
  return r.success ? { ok: true, data: r.data } : { ok: false, kind: e.kind, reason: summarize(r.error) };
}

function summarize(err: z.ZodError): string {
  const first = err.issues[0];
  if (!first) return 'invalid';
  const path = first.path.length ? first.path.map(String).join('.') : '(root)';
  return `${path}: ${first.message}`;
}

// Compile-time drift guard: when a message type in src/container changes, these stop compiling
// until the schema follows, so the wire check and the code can never disagree silently.
type Flat<T> = T extends unknown ? { [K in keyof T]: Flat<T[K]> } : never;
// Exact (not mutual-assignability) equality, so a new optional field is caught too: the parse
// would otherwise strip it without a word.
type Same<A, B> =
  (<T>() => T extends Flat<A> ? 1 : 2) extends <T>() => T extends Flat<B> ? 1 : 2 ? true : false;
const _sameShapes: [
  Same<z.infer<typeof HeartbeatSchema>, HeartbeatMsg>,
  Same<z.infer<typeof LeaseOpenedSchema>, LeaseOpenedMsg>,
  Same<z.infer<typeof LeaseOutputSchema> | z.infer<typeof LeaseExitSchema>, LeaseLogMsg>,
  Same<z.infer<typeof LeaseReceiptSchema>, LeaseReceiptMsg>,
] = [true, true, true, true];
void _sameShapes;
