import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { writeOrWait } from '../../core/backpressure.js';
import { AethirError } from '../../core/errors.js';
import { verifyLeaseToken } from '../../core/lease-token.js';
import { SignedReceiptSchema, verifyReceipt } from '../../ledger/receipt.js';
import { subjects, type LeaseLogMsg } from '../../bus/subjects.js';
import type { Bus } from '../../bus/bus.js';
import type { LogsReply } from '../../bus/messages.js';
import type { Lease } from '../../ledger/model.js';
import { leaseView } from '../views.js';
import { IdParam, ListQuery, router, type ApiPlugin } from './common.js';

const LogsQuery = z
  .object({
    follow: z.enum(['true', 'false']).default('true'),
    /** a lease token (`aethir lease token`), where a header cannot be set */
    token: z.string().max(2000).optional(),
  })
  .strict();

function leaseTokenOf(req: FastifyRequest, fromQuery: string | undefined): string | undefined {
  const h = req.headers.authorization;
  const m = typeof h === 'string' ? /^Bearer\s+(\S+)$/i.exec(h) : null;
  return m?.[1] ?? fromQuery;
}

/** The marker this node's log hub puts where it dropped output (src/node/log-hub.ts). */
const NODE_DROPPED = /^\[aethir\] \d+ bytes of output dropped here \(the node keeps /;
/** How much of the host's newest output is kept to recognize it among what this node kept. */
const RECENT_WINDOW_BYTES = 4 << 20;
/** The most pages of a host's kept log one request reads (128 KiB each: the file's 64 MiB cap). */
const MAX_LOG_PAGES = 1024;

/**
 * What the lease's host kept of its output (its size-capped log file, `logs.<container>`), page
 * by page, with the user's token for the host to check again. Where the host cannot say (offline,
 * an older version, no file), nothing: the caller falls back to what this node keeps in memory.
 */
async function* keptOnHost(
  bus: Bus,
  lease: Lease,
  token: string,
  signal: AbortSignal,
  state: { answered: boolean },
): AsyncGenerator<LeaseLogMsg> {
  let offset = 0;
  for (let page = 0; page < MAX_LOG_PAGES && !signal.aborted; page++) {
    let r: LogsReply;
    try {
      r = (await bus.request(
        subjects.logs(lease.container),
        { lease: lease.id, token, offset },
        { timeoutMs: 10_000 },
      )) as LogsReply;
    } catch (e) {
      if (page > 0)
        yield {
          lease: lease.id,
          type: 'stderr',
          data: `\n[aethir] the rest of the host's log could not be read: ${(e as Error).message}\n`,
          at: 0,
        };
      return;
    }
    state.answered = true;
    for (const e of r.events) yield { lease: lease.id, ...e } as LeaseLogMsg;
    if (r.next >= r.size || r.next <= offset) return;
    offset = r.next;
  }
}

/** Leases: the list and one, usage receipts, and the workload's output. */
export const leaseRoutes: ApiPlugin = async (app, ctx) => {
  const { node } = ctx;
  const ledger = () => node.ledger;
  const route = router(app, ctx);
  const fundsAt = () => ({ now: node.now(), pauseGraceMs: ledger().params.pauseGraceMs });
  route({
    method: 'GET',
    url: '/v1/leases',
    tag: 'leases',
    summary: 'Leases, newest first',
    query: ListQuery,
    handler: ({ query }) => ({
      leases: ledger()
        .leases()
        .filter(
          (l) =>
            (!query.user || l.user === query.user) && (!query.container || l.container === query.container),
        )
        .filter((l) => !query.status || l.status === query.status)
        .sort((a, b) => b.openedAt - a.openedAt || (a.id < b.id ? -1 : 1))
        .slice(0, query.limit)
        .map((l) => leaseView(l, node.endpointOf(l), fundsAt())),
    }),
  });
  route({
    method: 'GET',
    url: '/v1/leases/:id',
    tag: 'leases',
    summary: "One lease: escrow, charge and its split, and while it runs the endpoint of its workload's port",
    params: IdParam,
    handler: ({ params }) => {
      const l = ledger().lease(params.id);
      if (!l) throw new AethirError('NOT_FOUND', `no lease ${params.id}`);
      return leaseView(l, node.endpointOf(l), fundsAt());
    },
  });
  // Usage receipts: the user's client signs what it was served; the lease's container settles
  // with the latest one. Checked here (a forged or stale one never reaches the bus), and again
  // by the container and the ledger.
  route({
    method: 'POST',
    url: '/v1/leases/:id/receipts',
    tag: 'leases',
    summary:
      "A usage receipt signed by the lease's user (cumulative service acknowledged), passed to the lease's container",
    params: IdParam,
    body: SignedReceiptSchema,
    handler: ({ params, body }, reply) => {
      const l = ledger().lease(params.id);
      if (!l) throw new AethirError('NOT_FOUND', `no lease ${params.id}`);
      if (body.lease !== l.id)
        throw new AethirError('INVALID_ARGUMENT', `the receipt is for lease ${body.lease}, not ${l.id}`);
      if (l.status !== 'open') throw new AethirError('CONFLICT', `lease ${l.id} is ${l.status}`);
      const r = verifyReceipt(node.chainId, body, l.user);
      if (r.seq <= l.lastReceiptSeq)
        throw new AethirError(
          'CONFLICT',
          `receipt ${r.seq} is not newer than the last one the ledger accepted (${l.lastReceiptSeq})`,
        );
      node.publishTelemetry(subjects.leaseReceipt(l.id), r);
      return reply.status(202).send({ accepted: true, lease: l.id, seq: r.seq });
    },
  });
  route({
    method: 'GET',
    url: '/v1/leases/:id/logs',
    tag: 'leases',
    summary:
      "The workload's output as NDJSON: everything so far, then live until it exits (follow=false: only so far)",
    params: IdParam,
    query: LogsQuery,
    handler: async ({ params, query, raw }, reply) => {
      const lease = ledger().lease(params.id);
      if (!lease) throw new AethirError('NOT_FOUND', `no lease ${params.id}`);
      // The workload's output is its user's (or whom the user gave a token): a lease id is public.
      const token = leaseTokenOf(raw, query.token);
      if (!token)
        throw new AethirError(
          'UNAUTHORIZED',
          "a lease's logs need a lease token signed by its user (Authorization: Bearer …; aethir lease token)",
        );
      verifyLeaseToken(token, {
        chainId: node.chainId,
        lease: lease.id,
        user: lease.user,
        scope: 'logs',
        now: node.now(),
      });
      // This node keeps only the last MiB of the output it saw itself: not what came before it
      // (re)started, nor the start of a long output. The host keeps the whole (capped) output, so
      // its file comes first, then what this node has past it (live when following); where the
      // host cannot answer, what this node kept.
      const abort = new AbortController();
      const askHost = ctx.bus !== undefined;
      const events = async function* (follow: boolean): AsyncGenerator<LeaseLogMsg> {
        // The newest events the host gave, to recognize them where this node has them too (it
        // keeps the last MiB: a window of a few MiB of the host's newest events covers it). What
        // only this node has (the host's own notices: pulls, pauses, resumes) still comes through.
        const recent = new Map<string, number>();
        const window: Array<{ key: string; bytes: number }> = [];
        let windowBytes = 0;
        const keyOf = (e: LeaseLogMsg) =>
          e.type === 'exit' ? `${e.at}|exit` : `${e.at}|${e.type}|${e.data}`;
        let exit: LeaseLogMsg | undefined;
        const host = { answered: false };
        if (askHost)
          for await (const e of keptOnHost(ctx.bus!, lease, token, abort.signal, host)) {
            if (e.type === 'exit') {
              exit = e; // last, after anything only this node has
              break;
            }
            const key = keyOf(e);
            recent.set(key, (recent.get(key) ?? 0) + 1);
            window.push({ key, bytes: key.length });
            windowBytes += key.length;
            while (windowBytes > RECENT_WINDOW_BYTES && window.length) {
              const old = window.shift()!;
              windowBytes -= old.bytes;
              const n = recent.get(old.key)! - 1;
              if (n) recent.set(old.key, n);
              else recent.delete(old.key);
            }
            yield e;
          }
        const rest =
          follow && !exit ? node.logs.follow(params.id, abort.signal) : node.logs.snapshot(params.id).events;
        for await (const e of rest) {
          const key = keyOf(e);
          const n = recent.get(key);
          if (n) {
            // the host's file gave it already
            if (n > 1) recent.set(key, n - 1);
            else recent.delete(key);
            continue;
          }
          if (e.type === 'exit' && exit) continue;
          // this node's "dropped" marker means nothing where the host gave the whole output
          if (host.answered && e.type === 'stderr' && NODE_DROPPED.test(e.data)) continue;
          yield e;
          if (e.type === 'exit') return;
        }
        if (exit) yield exit;
      };
      if (query.follow === 'false') {
        const out: string[] = [];
        for await (const e of events(false)) out.push(JSON.stringify(e) + '\n');
        reply.header('content-type', 'application/x-ndjson');
        return out.join('');
      }
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'application/x-ndjson',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
      });
      raw.raw.on('close', () => abort.abort());
      // A lease closed without its workload ever reporting an exit (container gone) ends the
      // stream after a grace period instead of leaving the client waiting forever.
      const stopWatch = node.onBlock(() => {
        const l = ledger().lease(params.id);
        if (l?.status === 'closed') setTimeout(() => abort.abort(), 3000).unref();
      });
      if (lease.status === 'closed') setTimeout(() => abort.abort(), 3000).unref();
      try {
        // Backpressure: a client that reads slowly is waited for here, not buffered for; the hub
        // meanwhile skips it ahead (with a marker) past what it no longer keeps.
        for await (const e of events(true)) {
          await writeOrWait(res, JSON.stringify(e) + '\n');
          if (res.destroyed) break;
        }
      } finally {
        stopWatch();
        res.end();
      }
    },
  });
};
