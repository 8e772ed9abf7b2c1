import type { Clock } from '../core/clock.js';
import { signedByContainer } from '../core/container-signature.js';
import { isAethirError } from '../core/errors.js';
import { findCity } from '../core/gazetteer.js';
import type { Bus } from '../bus/bus.js';
import { subjects, type HeartbeatMsg } from '../bus/subjects.js';
import type { ProbeResult } from '../container/probe.js';
import type { Indexer } from '../indexer/indexer.js';
import type { Ledger } from '../ledger/machine.js';
import type { Lease } from '../ledger/model.js';
import type { ContainerSpec, Location } from '../ledger/modules/containers/payloads.js';
import type { TxSender } from '../sdk/tx-sender.js';
import type { BlockEvent } from './chain.js';

/** Where a block's changes go on one node: its index (if it runs one) and its local bus. */
export interface FanOutSinks {
  indexer?: (Pick<Indexer, 'upsert' | 'consume' | 'bulk'> & Partial<Pick<Indexer, 'lease'>>) | undefined;
  bus: Bus;
}

/** Loads every container the ledger holds into an index (a new or restarted indexer). */
export function rebuildIndex(
  indexer: Pick<Indexer, 'upsert' | 'bulk'> & Partial<Pick<Indexer, 'lease'>>,
  ledger: Ledger,
): void {
  indexer.bulk(() => {
    for (const c of ledger.containers()) indexer.upsert(c);
  });
  // the open interruptible leases: GPUs a request paying more than their bid may preempt
  if (indexer.lease)
    for (const l of ledger.leases()) if (l.interruptible && l.status === 'open') indexer.lease(l);
}

/**
 * Fans a block's changes out to the roles of one node, from the ledger's typed events alone
 * (src/ledger/registry.ts): its index re-reads every container the block changed
 * (ContainerChanged) and all of them when what every container's required stake depends on
 * changed (ParamsChanged, an EpochClosed that moved the staking coefficient); a user's
 * reservation is used up when their lease opens; container agents learn of the leases opened
 * and closed on them (LeaseOpened, LeaseClosed) and of the interruptible ones preempted
 * (LeasePreempted); reservations change their container (ContainerChanged), so the index counts
 * reserved GPUs as taken. Every node derives these from its own copy of
 * the ledger, so none travels the network.
 */
export function fanOutBlock(e: BlockEvent, ledger: Ledger, sinks: FanOutSinks): void {
  const { indexer, bus } = sinks;
  const changed = new Set<string>();
  let all = false;
  const tell: Array<() => void> = [];
  for (const a of e.applied)
    for (const ev of a.events)
      switch (ev.type) {
        case 'ContainerChanged':
          changed.add(ev.id);
          break;
        case 'ParamsChanged':
          all = true;
          break;
        case 'EpochClosed':
          if (ev.coefficientChanged) all = true;
          break;
        case 'LeaseOpened': {
          indexer?.consume(ev.lease.user, ev.lease.container);
          // Listeners see the state after the whole block: a lease opened and closed in one
          // block has nothing left to run.
          const lease = ledger.lease(ev.lease.id);
          if (lease?.interruptible) indexer?.lease?.(lease);
          if (lease?.status === 'open')
            tell.push(() => bus.publish(subjects.leaseOpened(lease.container), { lease }));
          break;
        }
        case 'LeaseClosed': {
          const closed = ledger.lease(ev.lease);
          if (closed?.interruptible) indexer?.lease?.(closed);
          tell.push(() => bus.publish(subjects.leaseClosed(ev.container), { lease: ev.lease }));
          break;
        }
        case 'LeasePreempted': {
          const lease = ledger.lease(ev.lease);
          if (lease) indexer?.lease?.(lease);
          tell.push(() =>
            bus.publish(subjects.leasePreempted(ev.container), { lease: ev.lease, stopAt: ev.stopAt }),
          );
          break;
        }
        default:
          break;
      }
  if (indexer) {
    if (all) rebuildIndex(indexer, ledger);
    else
      for (const id of changed) {
        const c = ledger.container(id);
        if (c) indexer.upsert(c);
      }
  }
  for (const t of tell) t();
}

/**
 * Keeper duty: closes every epoch whose end has passed (rewards, the checkers' day, the
 * staking coefficient). Anyone may send epoch.close; a second one for the same epoch is
 * rejected by the ledger, so several keepers are harmless.
 */
export async function closeDueEpochs(
  ledger: () => Ledger,
  sender: TxSender,
  clock: Clock,
  log?: (line: string) => void,
): Promise<void> {
  for (;;) {
    const next = ledger().nextEpoch(clock.now());
    if (!next.due) return;
    try {
      await sender.send('epoch.close', { epoch: next.epoch });
    } catch (e) {
      if (!isAethirError(e)) throw e;
      log?.(`closing epoch ${next.epoch} failed: ${e.message}`);
      return;
    }
  }
}

/**
 * Keeper duty: closes every reservation whose period is over (its host is paid in full, its GPUs
 * are free again in every index). Anyone may send reservation.close; one already closed is
 * refused by the ledger, so several keepers are harmless.
 */
export async function closeEndedReservations(
  ledger: () => Ledger,
  sender: TxSender,
  clock: Clock,
  log?: (line: string) => void,
): Promise<void> {
  const now = clock.now();
  for (const r of ledger().reservations())
    if (r.status === 'active' && r.endsAt <= now)
      try {
        await sender.send('reservation.close', { reservation: r.id });
      } catch (e) {
        if (!isAethirError(e)) throw e;
        log?.(`closing reservation ${r.id} failed: ${e.message}`);
      }
}

/** The ledger's view of this machine's hardware, from the probe. */
export function specFromProbe(probe: ProbeResult): ContainerSpec {
  return {
    source: 'probed',
    gpus: probe.spec.gpus.map((g) => ({
      model: g.name,
      memoryMiB: g.memoryMiB,
      uuid: g.uuid,
      ...(g.computeCapability ? { computeCapability: g.computeCapability } : {}),
    })),
    cpu: { model: probe.spec.cpu.model.slice(0, 120), cores: probe.spec.cpu.cores },
    memoryMiB: probe.spec.memoryMiB,
    os: `${probe.spec.os.platform} ${probe.spec.os.release}`.slice(0, 120),
  };
}

/** A city name ("Frankfurt, DE") as a ledger location; unknown names are a CONFIG_INVALID error. */
export function locationOf(cityName: string): Location {
  const c = findCity(cityName);
  return { city: c.city, country: c.country, region: c.region, lat: c.lat, lon: c.lon };
}

/**
 * The lease events of one container on a node's local bus (see fanOutBlock), and, given the
 * node's ledger, the usage receipts of that container's leases (`lease.<id>.receipt`, on
 * `receipts.bus`: where the node's API publishes them, by default the same bus); returns
 * unsubscribe.
 */
export function leaseEventsOn(
  bus: Bus,
  container: string,
  handler: (subject: string, msg: unknown) => void,
  receipts?: { ledger: () => Ledger; bus?: Bus },
): () => void {
  const offs = [
    bus.subscribe(subjects.leaseOpened(container), (m, s) => handler(s, m)),
    bus.subscribe(subjects.leaseClosed(container), (m, s) => handler(s, m)),
    // an interruptible lease's preemption notice (the agent checks it against the ledger)
    bus.subscribe(subjects.leasePreempted(container), (m, s) => handler(s, m)),
  ];
  if (receipts)
    offs.push(
      (receipts.bus ?? bus).subscribe(subjects.allLeaseReceipts, (m, s) => {
        // The node knows each lease's container from its ledger: only this container's go out.
        const lease = receipts.ledger().lease(s.split('.')[1]!);
        if (lease?.container === container && lease.status === 'open') handler(s, m);
      }),
    );
  return () => {
    for (const off of offs) off();
  };
}

/** Where each container's endpoint proxy is, from its heartbeats: what the API shows users. */
export class EndpointDirectory {
  private readonly bases = new Map<string, { url: string; at: number }>();
  private readonly off: () => void;

  /**
   * Follows the endpoints containers announce in their heartbeats, taking only heartbeats the
   * container signed for this chain (src/core/container-signature.ts), each newer than the last,
   * and (given `isContainer`) only from the network's containers: a peer on the bus cannot point
   * someone else's container, its lease tokens or its location probes at a server of its choosing,
   * nor replay an old announcement, nor grow this map with keys of its own.
   */
  constructor(bus: Bus, chainId: string, isContainer?: (id: string) => boolean) {
    this.off = bus.subscribe(subjects.allHeartbeats, (m) => {
      const hb = m as HeartbeatMsg;
      if (!hb.endpoint) return;
      const last = this.bases.get(hb.container);
      if (last && hb.at <= last.at) return;
      if (isContainer && !isContainer(hb.container)) return;
      if (!signedByContainer('heartbeat', chainId, hb)) return;
      this.bases.set(hb.container, { url: hb.endpoint, at: hb.at });
    });
  }

  /** The base URL a container's heartbeats announce for its endpoint proxy, if any. */
  baseOf(container: string): string | null {
    return this.bases.get(container)?.url ?? null;
  }

  /** The user-facing address of an open lease's endpoint, when its container has a proxy. */
  endpointOf(lease: Pick<Lease, 'id' | 'container' | 'status'>): string | null {
    const base = this.bases.get(lease.container)?.url;
    return base && lease.status === 'open' ? `${base}/l/${lease.id}/` : null;
  }

  close(): void {
    this.off();
  }
}
