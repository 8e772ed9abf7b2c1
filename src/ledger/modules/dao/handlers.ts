import { AethirError } from '../../../core/errors.js';
import type { Handlers, TxContext, TxResult } from '../../context.js';
import { weightAt, weightAtCreation } from '../../governance.js';
import { K, type Lock, type Proposal, type ProposalAction } from '../../model.js';
import { OPERATIONAL_PARAMS, type Params } from '../../params.js';
import type { DecodedTx } from '../../tx.js';
import type { payloads } from './payloads.js';

function updateParams(ctx: TxContext, tx: DecodedTx<'params.update'>): TxResult {
  const p = tx.payload;
  const gov = ctx.chain.governance;
  if (!gov || tx.tx.from !== gov)
    throw new AethirError('UNAUTHORIZED', 'only the governance authority may change parameters');
  if ('version' in p.changes) throw new AethirError('INVALID_TRANSACTION', 'version is set by the ledger');
  if (Object.keys(p.changes).length === 0)
    throw new AethirError('INVALID_TRANSACTION', 'no parameter to change');
  const next = applyParamChanges(ctx, p.changes);
  return { version: next.version, changed: Object.keys(p.changes).join(',') };
}

/** Writes the parameters with these changes (validated against every bound) and announces them. */
function applyParamChanges(ctx: TxContext, changes: Record<string, unknown>): Params {
  const next = ctx.validateParamChanges(changes);
  ctx.state.set(K.params, next);
  ctx.emit({ type: 'ParamsChanged', version: next.version, changed: Object.keys(changes) });
  return next;
}

// ---- the DAO (issue: token holders and the DAO) ----

function lockTokens(ctx: TxContext, tx: DecodedTx<'dao.lock'>): TxResult {
  const p = tx.payload;
  const params = ctx.params;
  const me = tx.tx.from;
  const prev = ctx.lock(me);
  if (prev && prev.end <= ctx.time && prev.amount > 0n)
    throw new AethirError(
      'CONFLICT',
      'your lock has expired: withdraw it with dao.unlock before locking again',
    );
  const end = Math.max(prev?.end ?? 0, p.until);
  if (end - ctx.time < params.lockMinMs)
    throw new AethirError(
      'INVALID_TRANSACTION',
      `a lock must run at least ${params.lockMinMs / 86_400_000} days`,
    );
  if (end - ctx.time > params.lockMaxMs)
    throw new AethirError(
      'INVALID_TRANSACTION',
      `a lock may run at most ${params.lockMaxMs / 86_400_000} days`,
    );
  if (p.amount > 0n) ctx.debit(me, p.amount, 'lock');
  const amount = (prev?.amount ?? 0n) + p.amount;
  if (amount === 0n) throw new AethirError('INVALID_TRANSACTION', 'nothing is locked: give an amount');
  const history = [
    ...(prev?.history ?? []).filter((h) => h.height < ctx.height),
    { height: ctx.height, at: ctx.time, amount, end },
  ];
  ctx.state.set(K.lock(me), { amount, end, history } satisfies Lock);
  return {
    amount: amount.toString(),
    end,
    weight: weightAt({ amount, end }, ctx.time, params.lockMaxMs).toString(),
  };
}

function unlockTokens(ctx: TxContext, tx: DecodedTx<'dao.unlock'>): TxResult {
  const me = tx.tx.from;
  const l = ctx.lock(me);
  if (!l || l.amount === 0n) throw new AethirError('NOT_FOUND', 'nothing is locked');
  if (l.end > ctx.time)
    throw new AethirError('CONFLICT', `the lock ends at ${new Date(l.end).toISOString()}`, {
      details: { end: l.end },
    });
  ctx.credit(me, l.amount);
  // The history stays, so past proposals can still weigh the votes cast with it.
  ctx.state.set(K.lock(me), {
    ...l,
    amount: 0n,
    history: [
      ...l.history.filter((h) => h.height < ctx.height),
      { height: ctx.height, at: ctx.time, amount: 0n, end: l.end },
    ],
  });
  return { withdrawn: l.amount.toString() };
}

function propose(ctx: TxContext, tx: DecodedTx<'dao.propose'>): TxResult {
  const p = tx.payload;
  const params = ctx.params;
  const me = tx.tx.from;
  const weight = ctx.weightOf(me, ctx.time);
  if (weight < params.proposalMinWeight)
    throw new AethirError(
      'UNAUTHORIZED',
      `a proposal needs a weight of ${params.proposalMinWeight}; yours is ${weight}`,
      {
        details: { needed: params.proposalMinWeight.toString(), weight: weight.toString() },
      },
    );
  let operational = false;
  let spend = 0n;
  const merged: Record<string, unknown> = {};
  for (const a of p.actions as ProposalAction[]) {
    if (a.kind === 'params') {
      if (Object.keys(a.changes).length === 0)
        throw new AethirError('INVALID_TRANSACTION', 'a params action must change something');
      if ('version' in a.changes)
        throw new AethirError('INVALID_TRANSACTION', 'version is set by the ledger');
      Object.assign(merged, a.changes);
      if (Object.keys(a.changes).some((k) => OPERATIONAL_PARAMS.has(k))) operational = true;
    }
    if (a.kind === 'treasury') spend += a.amount;
  }
  // All the spends together, as execute pays them.
  if (spend > ctx.treasury().balance)
    throw new AethirError('INSUFFICIENT_FUNDS', `the treasury holds ${ctx.treasury().balance} units`);
  // An out-of-bounds parameter cannot even be proposed.
  if (Object.keys(merged).length > 0) ctx.validateParamChanges(merged);
  const dao = ctx.dao;
  const id = dao.nextProposal;
  const proposal: Proposal = {
    id,
    title: p.title,
    proposer: me,
    actions: p.actions as ProposalAction[],
    operational,
    createdAt: ctx.time,
    createdHeight: ctx.height,
    votingEnds: ctx.time + params.votingPeriodMs,
    executableAt: ctx.time + params.votingPeriodMs + params.timelockMs,
    totalWeight: ctx.totalWeight(ctx.time),
    votes: {},
    tally: { for: 0n, against: 0n, abstain: 0n },
    ratifiedBy: [],
    status: 'active',
    outcome: null,
  };
  ctx.state.set(K.proposal(id), proposal);
  ctx.state.set(K.dao, { ...dao, nextProposal: id + 1 });
  return { proposal: id, votingEnds: proposal.votingEnds, operational };
}

function vote(ctx: TxContext, tx: DecodedTx<'dao.vote'>): TxResult {
  const p = tx.payload;
  const prop = ctx.proposal(p.proposal);
  if (!prop) throw new AethirError('NOT_FOUND', `no proposal ${p.proposal}`);
  if (prop.status !== 'active' || ctx.time >= prop.votingEnds)
    throw new AethirError('CONFLICT', 'voting on this proposal has ended');
  const me = tx.tx.from;
  // The weight the voter had when the proposal was made: weight bought since does not vote.
  const weight = weightAtCreation(ctx.lock(me), prop.createdHeight, prop.createdAt, ctx.params.lockMaxMs);
  if (weight === 0n) throw new AethirError('UNAUTHORIZED', 'no voting weight when this proposal was made');
  const tally = { ...prop.tally };
  const before = prop.votes[me];
  if (before) tally[before.choice] -= before.weight; // a second vote replaces the first
  tally[p.choice] += weight;
  ctx.state.set(K.proposal(prop.id), {
    ...prop,
    votes: { ...prop.votes, [me]: { choice: p.choice, weight } },
    tally,
  });
  return { proposal: prop.id, choice: p.choice, weight: weight.toString(), changed: before !== undefined };
}

function ratify(ctx: TxContext, tx: DecodedTx<'dao.ratify'>): TxResult {
  const p = tx.payload;
  const prop = ctx.proposal(p.proposal);
  if (!prop) throw new AethirError('NOT_FOUND', `no proposal ${p.proposal}`);
  const me = tx.tx.from;
  if (!Object.values(ctx.dao.council).includes(me))
    throw new AethirError('UNAUTHORIZED', 'only council members ratify');
  if (!prop.operational) throw new AethirError('CONFLICT', 'this proposal needs no ratification');
  if (prop.status !== 'active')
    throw new AethirError('CONFLICT', `proposal ${prop.id} is already ${prop.status}`);
  const phase = ctx.proposalPhase(prop, ctx.time);
  if (phase.phase === 'voting') throw new AethirError('CONFLICT', 'the vote is still running');
  if (!phase.passed) throw new AethirError('CONFLICT', 'the vote did not pass');
  if (prop.ratifiedBy.includes(me)) throw new AethirError('CONFLICT', 'already ratified by you');
  ctx.state.set(K.proposal(prop.id), { ...prop, ratifiedBy: [...prop.ratifiedBy, me] });
  return { proposal: prop.id, ratifications: prop.ratifiedBy.length + 1, needed: ctx.councilMajority() };
}

function execute(ctx: TxContext, tx: DecodedTx<'dao.execute'>): TxResult {
  const p = tx.payload;
  const prop = ctx.proposal(p.proposal);
  if (!prop) throw new AethirError('NOT_FOUND', `no proposal ${p.proposal}`);
  if (prop.status !== 'active')
    throw new AethirError('CONFLICT', `proposal ${prop.id} is already ${prop.status}`, {
      details: { phase: prop.status },
    });
  const phase = ctx.proposalPhase(prop, ctx.time);
  if (phase.phase === 'rejected') {
    ctx.state.set(K.proposal(prop.id), {
      ...prop,
      status: 'rejected',
      outcome: 'did not pass (quorum or majority)',
    });
    ctx.emit({ type: 'ProposalDecided', proposal: prop.id, status: 'rejected' });
    return { proposal: prop.id, status: 'rejected' };
  }
  if (phase.phase !== 'executable')
    throw new AethirError('CONFLICT', `proposal ${prop.id} is ${phase.phase}`, {
      details: { phase: phase.phase },
    });
  // Parameters are checked again: they must still be within bounds now.
  const changes: Record<string, unknown> = {};
  for (const a of prop.actions) if (a.kind === 'params') Object.assign(changes, a.changes);
  let spend = 0n;
  for (const a of prop.actions) if (a.kind === 'treasury') spend += a.amount;
  try {
    if (Object.keys(changes).length) ctx.validateParamChanges(changes);
    if (spend > ctx.treasury().balance)
      throw new AethirError('INSUFFICIENT_FUNDS', 'the treasury cannot pay this any more');
  } catch (e) {
    ctx.state.set(K.proposal(prop.id), { ...prop, status: 'failed', outcome: (e as Error).message });
    ctx.emit({ type: 'ProposalDecided', proposal: prop.id, status: 'failed' });
    return { proposal: prop.id, status: 'failed' };
  }
  if (Object.keys(changes).length) applyParamChanges(ctx, changes);
  for (const a of prop.actions) {
    if (a.kind === 'treasury') {
      ctx.movePool(K.treasury, -a.amount);
      ctx.credit(a.to, a.amount);
    } else if (a.kind === 'council') {
      const dao = ctx.dao;
      ctx.state.set(K.dao, { ...dao, council: { ...dao.council, [a.constituency]: a.member } });
    }
  }
  ctx.state.set(K.proposal(prop.id), { ...prop, status: 'executed', outcome: 'executed' });
  ctx.emit({ type: 'ProposalDecided', proposal: prop.id, status: 'executed' });
  return { proposal: prop.id, status: 'executed' };
}

export const handlers: Handlers<keyof typeof payloads> = {
  'dao.lock': lockTokens,
  'dao.unlock': unlockTokens,
  'dao.propose': propose,
  'dao.vote': vote,
  'dao.ratify': ratify,
  'dao.execute': execute,
  'params.update': updateParams,
};
