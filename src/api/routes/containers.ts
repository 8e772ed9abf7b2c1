import { canonicalize } from '../../core/canonical.js';
import { AethirError } from '../../core/errors.js';
import { ReplyEnvelopeSchema, checkMessage, checkReply, subjectKind } from '../../bus/messages.js';
import {
  TelemetryEnvelope,
  verifyEventsAuth,
  verifyTelemetry,
  EVENTS_AUTH_HEADER,
} from '../../bus/telemetry.js';
import { hasLeft } from '../../ledger/modules/containers/queries.js';
import { checkRelay } from '../check-relay.js';
import { containersIn, mustBeMember } from '../members.js';
import { AddressParam, ListQuery, containerOut, eventStream, router, type ApiPlugin } from './common.js';

/** Containers: the list and one, and what containers that joined over HTTP send and receive (telemetry, their event stream). */
export const containerRoutes: ApiPlugin = async (app, ctx) => {
  const { node } = ctx;
  const ledger = () => node.ledger;
  const route = router(app, ctx);
  const mustContainer = (id: string) => {
    const c = ledger().container(id);
    if (!c) throw new AethirError('NOT_FOUND', `no container ${id}`);
    return c;
  };
  route({
    method: 'GET',
    url: '/v1/containers',
    tag: 'containers',
    summary: 'Containers on the network',
    query: ListQuery,
    handler: ({ query }) => ({
      containers: ledger()
        .containers()
        .filter((c) => !query.status || c.status === query.status)
        .slice(0, query.limit)
        .map((c) => containerOut(node, c)),
    }),
  });
  // Containers that joined over HTTP (aethir container start --network URL): their telemetry in,
  // their lease events and checkers' requests out, their answers in. The newest `at` per
  // container: a replayed batch is refused.
  const lastTelemetry = new Map<string, number>();
  const lastEventsAuth = new Map<string, number>();
  // What this node keeps per container goes when the container leaves the network.
  const stopEvicting = node.onBlock((e) => {
    for (const id of containersIn(e)) {
      const c = node.ledger.container(id);
      if (c && hasLeft(c)) {
        lastTelemetry.delete(id);
        lastEventsAuth.delete(id);
      }
    }
  });
  app.addHook('onClose', async () => void stopEvicting());
  const checks = checkRelay(ctx.bus, ctx.checkTimeoutMs);
  route({
    method: 'POST',
    url: '/v1/telemetry',
    tag: 'containers',
    summary:
      "A container's heartbeats, its workloads' output and its answers to checks (reply.<id>), signed by the container's key, onto this node's bus",
    body: TelemetryEnvelope,
    handler: ({ body }, reply) => {
      const e = body as TelemetryEnvelope;
      verifyTelemetry(e, node.chainId);
      mustBeMember(node.ledger.container(e.container), e.container);
      if (e.at <= (lastTelemetry.get(e.container) ?? -1))
        throw new AethirError(
          'CONFLICT',
          `telemetry at ${e.at} is not newer than the last one from this container`,
        );
      if (Math.abs(e.at - node.now()) > 10 * 60_000)
        throw new AethirError(
          'INVALID_ARGUMENT',
          "telemetry time is more than 10 minutes off this node's clock",
        );
      const l = ledger();
      const checked: Array<{ subject: string; data: unknown }> = [];
      const answers = new Map<string, { result: unknown } | { error: { code: string; message: string } }>();
      for (const { subject, data } of e.messages) {
        const kind = subjectKind(subject);
        const tokens = subject.split('.');
        if (tokens[0] === 'reply') {
          // An answer to a check this node relayed to this very container, and not answered yet.
          const id = tokens.length === 2 ? tokens[1]! : '';
          const p = answers.has(id) ? undefined : checks.waiting(id, e.container);
          if (!p)
            throw new AethirError(
              'UNAUTHORIZED',
              `"${subject}" answers no check this node is waiting for from this container`,
            );
          const r = ReplyEnvelopeSchema.safeParse(data);
          if (!r.success || !('error' in r.data || 'result' in r.data))
            throw new AethirError(
              'INVALID_ARGUMENT',
              `malformed ${subject}: must be { result } or { error }`,
            );
          if ('error' in r.data) answers.set(id, r.data);
          else {
            const c = checkReply(p.subject, r.data.result);
            if (!c.ok) throw new AethirError('INVALID_ARGUMENT', `malformed ${subject}: ${c.reason}`);
            answers.set(id, { result: c.data });
          }
          continue;
        }
        const own =
          kind === 'hb'
            ? tokens[1] === e.container
            : (kind === 'lease.log' || kind === 'lease.exit') &&
              l.lease(tokens[1]!)?.container === e.container;
        if (!own)
          throw new AethirError(
            'UNAUTHORIZED',
            `a container may send only its heartbeats, its own leases' output and its answers to checks, not "${subject}"`,
          );
        const c = checkMessage(subject, data);
        if (!c.ok) throw new AethirError('INVALID_ARGUMENT', `malformed ${subject}: ${c.reason}`);
        checked.push({ subject, data: c.data });
      }
      lastTelemetry.set(e.container, e.at);
      for (const m of checked) node.publishTelemetry(m.subject, m.data);
      for (const [id, a] of answers) checks.answer(id, a);
      return reply.status(202).send({ accepted: checked.length + answers.size });
    },
  });
  route({
    method: 'GET',
    url: '/v1/containers/:address/events',
    tag: 'containers',
    summary:
      "Server-sent events for one container (canonical JSON): `lease` events, every open lease first, then lease.opened / lease.closed as they happen, and its leases' usage receipts; `check` events, checkers' requests { id, subject, data } for the container to answer in its telemetry on reply.<id>",
    params: AddressParam,
    handler: ({ params, raw }, reply) => {
      const id = (params as { address: string }).address;
      // Only the container itself: its leases' events and the checkers' probes are for it alone.
      const h = raw.headers[EVENTS_AUTH_HEADER];
      const at = verifyEventsAuth(typeof h === 'string' ? h : undefined, id, node.chainId, node.now());
      mustBeMember(node.ledger.container(id), id);
      if (at <= (lastEventsAuth.get(id) ?? -1))
        throw new AethirError('UNAUTHORIZED', 'this event stream request was already used (replayed)');
      lastEventsAuth.set(id, at);
      const emit = eventStream(reply, raw);
      const send = (subject: string, msg: unknown) => emit('lease', canonicalize({ subject, msg }));
      emit.onClose(node.leaseEvents(id, send));
      // What happened before this connection: an agent that reconnects misses nothing.
      for (const lease of ledger().leases())
        if (lease.container === id && lease.status === 'open') send(`lease.opened.${id}`, { lease });
      emit.onClose(checks.open(id, emit));
    },
  });
  route({
    method: 'GET',
    url: '/v1/containers/:address',
    tag: 'containers',
    summary: 'One container',
    params: AddressParam,
    handler: ({ params }) => containerOut(node, mustContainer(params.address)),
  });
};
