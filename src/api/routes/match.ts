import type { FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { toJsonSafe } from '../../core/canonical.js';
import { SIGNATURE_HEADER, verifyRequest } from '../../core/signed-request.js';
import { matchRequestOf, MatchRequestJson } from '../../indexer/request.js';
import { containerOut, router, type ApiPlugin } from './common.js';

/**
 * Matching: the indexer finds a container, and reserves it when the request is signed by the
 * account it names (a reservation holds GPUs from everyone else, so only the account itself may
 * ask, and the indexer holds it only within what the account's escrow covers and its cap).
 */
export const matchRoutes: ApiPlugin = async (app, ctx) => {
  const { node } = ctx;
  const route = router(app, ctx);
  route({
    method: 'POST',
    url: '/v1/match',
    tag: 'indexer',
    summary:
      "Find the best container for a request. Signed by the account it names (header x-aethir-signature, see signRequest) and covered by the account's escrow, it also reserves the container for a short time; the same signed request sent again (a retry) gets the same answer and reserves nothing more; unsigned, it only answers (reservation: null)",
    body: MatchRequestJson,
    handler: async ({ body, raw }: { body: z.output<typeof MatchRequestJson>; raw: FastifyRequest }) => {
      const sig = raw.headers[SIGNATURE_HEADER];
      const reserve = typeof sig === 'string';
      // the signature covers the body as sent (before the schema's defaults)
      if (reserve)
        verifyRequest(sig, {
          chainId: node.chainId,
          method: 'POST',
          path: '/v1/match',
          body: raw.body,
          account: body.user,
          now: node.now(),
        });
      // reserving, the account's signed request goes to the indexer with it (over the bus an
      // indexer verifies it again: a peer on the bus holds nothing in another account's name);
      // the same signed request again (a client's retry) gets the same reservation
      const m = await node.match(
        matchRequestOf(body),
        reserve ? { reserve, signed: { header: sig, body: raw.body } } : { reserve },
      );
      return toJsonSafe({
        container: containerOut(node, m.container),
        reservation: m.reservation,
        score: m.score,
        candidates: m.candidates,
        // no container had the GPUs free: this one's lease preempts interruptible capacity
        ...(m.preemptsInterruptible ? { preemptsInterruptible: true } : {}),
      });
    },
  });
};
