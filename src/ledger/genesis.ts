import { z } from 'zod';
import { canonicalize } from '../core/canonical.js';
import { sha256Hex } from '../core/encoding.js';
import { AethirError } from '../core/errors.js';
import { Address, Units } from './tx.js';
import { DEFAULT_PARAMS, ParamsSchema, type Params } from './params.js';

/** Total supply: 42 billion ATH, fixed at genesis; nothing is minted afterwards. */
export const TOTAL_SUPPLY = 42_000_000_000n * 10n ** 18n;

export const GenesisSchema = z
  .object({
    chainId: z.string().regex(/^[a-z0-9-]{3,64}$/),
    time: z.number().int().min(0),
    allocations: z.array(
      z.object({ address: Address, amount: Units, label: z.string().max(64).optional() }).strict(),
    ),
    /** funds of the Proof-of-Capacity/Delivery reward pool and of the checker reward pool */
    pools: z.object({ rewards: Units, checkers: Units }).strict().optional(),
    checkers: z.array(Address).min(1).max(101),
    /** may change parameters until the DAO takes over; none: parameters are fixed */
    governance: Address.optional(),
    params: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export interface Genesis {
  chainId: string;
  time: number;
  allocations: Array<{ address: string; amount: bigint; label?: string }>;
  /** everything neither allocated nor in a pool starts in the protocol treasury */
  pools: { rewards: bigint; checkers: bigint };
  checkers: string[];
  governance: string | null;
  params: Params;
}

export function parseGenesis(input: unknown): Genesis {
  const r = GenesisSchema.safeParse(input);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new AethirError('INVALID_ARGUMENT', `invalid genesis: ${i.path.join('.')}: ${i.message}`);
  }
  const rawParams = { ...paramsToWire(DEFAULT_PARAMS), ...(r.data.params ?? {}) };
  const params = paramsFromWire(rawParams);
  const seen = new Set<string>();
  let total = 0n;
  for (const a of r.data.allocations) {
    if (seen.has(a.address))
      throw new AethirError('INVALID_ARGUMENT', `genesis allocates to ${a.address} twice`);
    seen.add(a.address);
    total += a.amount;
  }
  const pools = r.data.pools ?? { rewards: 0n, checkers: 0n };
  total += pools.rewards + pools.checkers;
  if (total > TOTAL_SUPPLY)
    throw new AethirError('INVALID_ARGUMENT', 'genesis allocates more than the total supply');
  if (new Set(r.data.checkers).size !== r.data.checkers.length)
    throw new AethirError('INVALID_ARGUMENT', 'genesis lists a checker twice');
  return { ...r.data, pools, governance: r.data.governance ?? null, params } as Genesis;
}

export function paramsToWire(p: Params): Record<string, unknown> {
  return JSON.parse(JSON.stringify(p, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
}

export function paramsFromWire(raw: Record<string, unknown>): Params {
  const r = ParamsSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new AethirError(
      'INVALID_ARGUMENT',
      `invalid parameter ${i.path.join('.') || '(set)'}: ${i.message}`,
      {
        details: { path: i.path.join('.') },
      },
    );
  }
  return r.data;
}

export function genesisToWire(g: Genesis): Record<string, unknown> {
  return {
    chainId: g.chainId,
    time: g.time,
    allocations: g.allocations.map((a) => ({ ...a, amount: a.amount.toString() })),
    pools: { rewards: g.pools.rewards.toString(), checkers: g.pools.checkers.toString() },
    checkers: g.checkers,
    ...(g.governance ? { governance: g.governance } : {}),
    params: paramsToWire(g.params),
  };
}

export function genesisHash(g: Genesis): string {
  return sha256Hex(canonicalize(genesisToWire(g)));
}
