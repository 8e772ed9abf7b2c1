import { z } from 'zod';
import { toJsonSafe } from '../../core/canonical.js';
import { AethirError } from '../../core/errors.js';
import { paramsToWire } from '../../ledger/genesis.js';
import { AddressParam, router, type ApiPlugin } from './common.js';

/** The DAO: council and parameters, proposals, and an account's lock. */
export const daoRoutes: ApiPlugin = async (app, ctx) => {
  const { node } = ctx;
  const ledger = () => node.ledger;
  const route = router(app, ctx);
  const proposalView = (id: number) => {
    const l = ledger();
    const p = l.proposal(id);
    if (!p) throw new AethirError('NOT_FOUND', `no proposal ${id}`);
    const now = node.now();
    const phase = l.proposalPhase(p, now);
    // What executing it would change, parameter by parameter (current → proposed).
    const current = paramsToWire(l.params);
    const changes = p.actions.flatMap((a) =>
      a.kind === 'params'
        ? Object.entries(a.changes).map(([k, v]) => ({ parameter: k, from: current[k], to: v }))
        : [],
    );
    return toJsonSafe({
      ...p,
      phase: phase.phase,
      quorum: phase.quorum,
      turnout: phase.turnout,
      passing: phase.passed,
      votingLeftMs: Math.max(0, p.votingEnds - now),
      executableInMs: Math.max(0, p.executableAt - now),
      ratificationsNeeded: p.operational ? l.councilMajority() : 0,
      changes,
    });
  };
  route({
    method: 'GET',
    url: '/v1/dao',
    tag: 'dao',
    summary: 'The DAO: council seats, total voting weight, governance parameters',
    handler: () => {
      const l = ledger();
      const p = l.params;
      return toJsonSafe({
        council: l.dao.council,
        totalWeight: l.totalWeight(node.now()),
        proposals: l.dao.nextProposal,
        params: {
          lockMinMs: p.lockMinMs,
          lockMaxMs: p.lockMaxMs,
          proposalMinWeight: p.proposalMinWeight,
          votingPeriodMs: p.votingPeriodMs,
          quorumBps: p.quorumBps,
          timelockMs: p.timelockMs,
          revenueShareBps: p.revenueShareBps,
        },
      });
    },
  });
  route({
    method: 'GET',
    url: '/v1/dao/proposals',
    tag: 'dao',
    summary: 'Proposals, newest first, with their phase and tally',
    query: z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) }).strict(),
    handler: ({ query }) => ({
      proposals: ledger()
        .proposals()
        .reverse()
        .slice(0, query.limit)
        .map((p) => proposalView(p.id)),
    }),
  });
  route({
    method: 'GET',
    url: '/v1/dao/proposals/:id',
    tag: 'dao',
    summary: 'One proposal: tally, quorum, time left and what it will change',
    params: z.object({ id: z.coerce.number().int().min(0) }),
    handler: ({ params }) => proposalView(params.id),
  });
  route({
    method: 'GET',
    url: '/v1/accounts/:address/lock',
    tag: 'dao',
    summary: "An account's lock and its voting weight now",
    params: AddressParam,
    handler: ({ params }) => {
      const l = ledger();
      const lock = l.lock(params.address);
      const now = node.now();
      return toJsonSafe({
        address: params.address,
        amount: lock?.amount ?? 0n,
        end: lock?.end ?? null,
        weight: l.weightOf(params.address, now),
        expired: lock ? lock.end <= now : false,
      });
    },
  });
};
