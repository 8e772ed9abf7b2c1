import { AethirError } from '../core/index.js';
import type { Container } from '../ledger/index.js';
import type { BlockEvent } from '../node/chain.js';

/**
 * A container has left the network when nothing of it is at stake or in use any more: no stake,
 * nothing unbonding, no open lease, and the checkers call it offline (it withdrew, or was
 * slashed out). What a node keeps per container is dropped then, and its telemetry refused.
 */
export function hasLeft(c: Container): boolean {
  return c.status === 'offline' && c.stake === 0n && c.unbonding === 0n && c.openLeases === 0;
}

/**
 * Telemetry and event streams are for the network's containers only (UNAUTHENTICATED, 401,
 * otherwise): a stranger's key, however well it signs, gets nothing kept for it on this node.
 */
export function mustBeMember(c: Container | undefined, id: string): asserts c is Container {
  if (!c) throw new AethirError('UNAUTHENTICATED', `${id} is not a registered container of this network`);
  if (hasLeft(c))
    throw new AethirError(
      'UNAUTHENTICATED',
      `container ${id} has left the network (no stake, offline): stake again (container.stake) to rejoin`,
    );
}

/** The containers a block's transactions changed (the ledger's ContainerChanged events). */
export function containersIn(e: BlockEvent): Set<string> {
  const out = new Set<string>();
  for (const a of e.applied) for (const ev of a.events) if (ev.type === 'ContainerChanged') out.add(ev.id);
  return out;
}
