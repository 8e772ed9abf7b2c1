/**
 * The network's parameters changed (params.update, or an executed proposal): anything derived
 * from them — every container's required stake, whether it is serving — may differ now.
 */
export interface ParamsChanged {
  type: 'ParamsChanged';
  version: number;
  changed: string[];
}

/** A proposal reached its end: executed, rejected by the vote, or failed at execution. */
export interface ProposalDecided {
  type: 'ProposalDecided';
  proposal: number;
  status: 'executed' | 'rejected' | 'failed';
}

export type DaoEvent = ParamsChanged | ProposalDecided;
