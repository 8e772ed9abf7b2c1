import { AethirError } from '../core/errors.js';
import type { Container } from '../ledger/model.js';
import { hasLeft } from '../ledger/modules/containers/queries.js';
import type { BlockEvent } from '../node/chain.js';

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
