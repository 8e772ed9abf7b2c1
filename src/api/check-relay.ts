import { randomBytes } from 'node:crypto';
import { canonicalize } from '../core/canonical.js';
import { AethirError } from '../core/errors.js';
import type { Bus } from '../bus/bus.js';
import { checkMessage } from '../bus/messages.js';
import { fromReplyError, noResponder } from '../bus/reply.js';
import { subjects } from '../bus/subjects.js';

/** Most check requests waiting for containers' answers at once, on one API node. */
const MAX_PENDING_CHECKS = 10_000;

interface PendingCheck {
  container: string;
  subject: string;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
}

/**
 * Checkers' requests (`check.<container>`) to containers that joined over HTTP and so are not on
 * the bus themselves. While at least one event stream of a container is open, this node serves
 * the container's check subject on its bus (once, however many streams are open) and relays each
 * request to every open stream of that container as an SSE `check` event `{ id, subject, data }`
 * (canonical JSON). Every stream, not only the newest: the streams are not authenticated, and a
 * stranger's stream must not keep the requests from the container. The container answers in its
 * signed telemetry, on subject `reply.<id>`: only the container the request went to can answer
 * it, once. When its last stream closes the node stops serving, and what is still waiting fails
 * UNAVAILABLE; an answer that does not come in `timeoutMs` fails TIMEOUT.
 *
 * Users' requests for a lease's kept log (`logs.<container>`, the API's logs route after this
 * node lost what it kept in memory) travel the same way: the container serves both subjects.
 */
export function checkRelay(bus: Bus | undefined, timeoutMs: number) {
  const streams = new Map<string, { emits: Set<(event: string, data: string) => void>; stop: () => void }>();
  const pending = new Map<string, PendingCheck>();
  const take = (id: string): PendingCheck | undefined => {
    const p = pending.get(id);
    if (!p) return undefined;
    pending.delete(id);
    clearTimeout(p.timer);
    return p;
  };
  const relay = (container: string, subject: string, data: unknown): Promise<unknown> => {
    const c = checkMessage(subject, data);
    if (!c.ok) throw new AethirError('INVALID_ARGUMENT', `malformed ${c.kind} request: ${c.reason}`);
    const emits = streams.get(container)?.emits;
    if (!emits?.size) throw noResponder(subject);
    if (pending.size >= MAX_PENDING_CHECKS)
      throw new AethirError('UNAVAILABLE', 'too many checks are waiting for containers on this node');
    const id = randomBytes(16).toString('hex');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (take(id))
          reject(new AethirError('TIMEOUT', `container ${container} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      pending.set(id, { container, subject, resolve, reject, timer });
      const frame = canonicalize({ id, subject, data: c.data });
      for (const emit of emits) emit('check', frame);
    });
  };
  return {
    /** An event stream of `container` opened (and `emit` writes to it); returns: it closed. */
    open(container: string, emit: (event: string, data: string) => void): () => void {
      if (!bus) return () => undefined;
      let s = streams.get(container);
      if (!s) {
        const stops = [subjects.check(container), subjects.logs(container)].map((s) =>
          bus.serve(s, (data, subject) => relay(container, subject, data)),
        );
        const stop = () => stops.forEach((f) => f());
        s = { emits: new Set<(event: string, data: string) => void>(), stop };
        streams.set(container, s);
      }
      const stream = s;
      stream.emits.add(emit);
      return () => {
        stream.emits.delete(emit);
        if (stream.emits.size || streams.get(container) !== stream) return;
        streams.delete(container);
        stream.stop();
        for (const [id, p] of [...pending])
          if (p.container === container && take(id))
            p.reject(new AethirError('UNAVAILABLE', `container ${container} disconnected from this node`));
      };
    },
    /** The request `id` if this node sent it to `container` and it waits for an answer. */
    waiting(id: string, container: string): PendingCheck | undefined {
      const p = pending.get(id);
      return p?.container === container ? p : undefined;
    },
    /** Settles request `id` with the container's answer (checked by the caller). */
    answer(id: string, reply: { result: unknown } | { error: { code: string; message: string } }): void {
      const p = take(id);
      if (!p) return;
      if ('error' in reply) p.reject(fromReplyError(reply.error));
      else p.resolve(reply.result);
    },
  };
}
