/**
 * Persistent volumes for renters (docs/sdk.md "Volumes"): sizes as people write them, choosing a
 * host that offers volumes near a place, creating, resolving a name to the owner's volume, and
 * deleting. The ledger rules are in src/ledger/modules/volumes.
 */
import { formatAth } from '../core/amount.js';
import { AethirError } from '../core/errors.js';
import { distanceKm } from '../core/geo.js';
import type { KeyPair } from '../core/keys.js';
import { MAX_VOLUME_MIB, MIN_VOLUME_MIB } from '../ledger/modules/volumes/payloads.js';
import { volumeCost } from '../ledger/modules/volumes/queries.js';
import type { ApiClient, ContainerView, VolumeView } from './client.js';
import { TxSender } from './tx-sender.js';

/** "50G", "50GiB", "512M", "1T", "1.5G" → MiB (binary units; a bare number is GiB). */
export function parseVolumeSize(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([MGT]i?B?|[MGT])?\s*$/i.exec(s);
  if (!m) throw new AethirError('INVALID_ARGUMENT', `size "${s}": give a number with M, G or T (50G)`);
  const n = Number(m[1]);
  const unit = (m[2] ?? 'G')[0]!.toUpperCase();
  const mib = Math.round(n * ({ M: 1, G: 1024, T: 1024 * 1024 } as Record<string, number>)[unit]!);
  if (!Number.isSafeInteger(mib) || mib < MIN_VOLUME_MIB || mib > MAX_VOLUME_MIB)
    throw new AethirError(
      'INVALID_ARGUMENT',
      `size "${s}": a volume holds ${MIN_VOLUME_MIB} MiB to ${MAX_VOLUME_MIB / 1024 / 1024} TiB`,
    );
  return mib;
}

/** Free volume space on a host now, MiB (0: it offers none). */
export async function volumeRoomMiB(api: ApiClient, c: ContainerView): Promise<number> {
  return c.volumeOffer ? freeMiB(c, await api.volumeViews({ status: 'active' })) : 0;
}

/** Free volume space on a host, MiB, given the live volumes it holds. */
function freeMiB(c: ContainerView, live: readonly VolumeView[]): number {
  if (!c.volumeOffer) return 0;
  const used = live.filter((v) => v.container === c.id).reduce((s, v) => s + v.sizeMiB, 0);
  return c.volumeOffer.capacityGiB * 1024 - used;
}

/**
 * The host for a new volume: serving, offering volumes with room for `sizeMiB`, under the
 * price cap; the nearest to `near` (then the cheapest), or the cheapest without a place.
 */
export async function chooseVolumeHost(
  api: ApiClient,
  want: { sizeMiB: number; near?: { lat: number; lon: number }; maxPricePerGiBHour?: bigint },
): Promise<ContainerView> {
  const [hosts, live] = await Promise.all([api.containers(), api.volumeViews({ status: 'active' })]);
  const fit = hosts.filter(
    (c) =>
      c.serving &&
      c.volumeOffer &&
      freeMiB(c, live) >= want.sizeMiB &&
      (want.maxPricePerGiBHour === undefined ||
        BigInt(c.volumeOffer.pricePerGiBHour) <= want.maxPricePerGiBHour),
  );
  if (fit.length === 0)
    throw new AethirError(
      'CAPACITY_EXHAUSTED',
      `no serving host offers ${want.sizeMiB} MiB of volume space${want.maxPricePerGiBHour !== undefined ? ' at that price' : ''}`,
    );
  const price = (c: ContainerView) => BigInt(c.volumeOffer!.pricePerGiBHour);
  const dist = (c: ContainerView) => (want.near ? distanceKm(want.near, c.location) : 0);
  return fit.sort(
    (a, b) => dist(a) - dist(b) || (price(a) < price(b) ? -1 : price(a) > price(b) ? 1 : 0),
  )[0]!;
}

/** The owner's live volume by name or id; NOT_FOUND otherwise (another's volume reads the same). */
export async function resolveVolume(api: ApiClient, owner: string, nameOrId: string): Promise<VolumeView> {
  const byName = (await api.volumeViews({ owner, name: nameOrId, status: 'active' }))[0];
  if (byName) return byName;
  const byId = /^V[A-Za-z0-9_-]{1,63}$/.test(nameOrId) ? await api.volumeView(nameOrId) : undefined;
  if (byId && byId.owner === owner) return byId;
  throw new AethirError('NOT_FOUND', `you have no volume "${nameOrId}"`);
}

export interface CreateVolumeOptions {
  name: string;
  sizeMiB: number;
  /** a host address; absent: chosen (nearest to `near`) */
  host?: string;
  near?: { lat: number; lon: number };
  maxPricePerGiBHour?: bigint;
  /** how long the deposit pays for (default: the network's open-ended deposit) */
  depositSeconds?: number;
  log?: (line: string) => void;
}

/** Creates a volume: picks the host, tops the escrow up to the deposit, sends volume.create. */
export async function createVolume(
  api: ApiClient,
  key: KeyPair,
  o: CreateVolumeOptions,
): Promise<{ volume: VolumeView; host: ContainerView }> {
  const say = o.log ?? (() => {});
  const host = o.host
    ? await api.containerView(o.host)
    : await chooseVolumeHost(api, {
        sizeMiB: o.sizeMiB,
        ...(o.near ? { near: o.near } : {}),
        ...(o.maxPricePerGiBHour !== undefined ? { maxPricePerGiBHour: o.maxPricePerGiBHour } : {}),
      });
  if (!host) throw new AethirError('NOT_FOUND', `no container ${o.host}`);
  if (!host.volumeOffer)
    throw new AethirError('CONTAINER_UNAVAILABLE', `container ${host.name} offers no volumes`);
  const price = BigInt(host.volumeOffer.pricePerGiBHour);
  const params = await api.params();
  const seconds = o.depositSeconds ?? params.openEndedDepositSeconds;
  const needed = volumeCost(price, o.sizeMiB, seconds * 1000);
  const sender = new TxSender(key, api);
  const acct = await api.account(key.address);
  if (acct.escrow < needed) {
    await sender.send('escrow.deposit', { amount: needed - acct.escrow });
    say(`deposited ${formatAth(needed - acct.escrow, 6)} ATH into escrow`);
  }
  const r = await sender.send('volume.create', {
    name: o.name,
    container: host.id,
    sizeMiB: o.sizeMiB,
    maxPricePerGiBHour: o.maxPricePerGiBHour ?? price,
    depositSeconds: seconds,
  });
  const volume = await api.volumeView(String(r.result.volume));
  if (!volume) throw new AethirError('INTERNAL', 'the volume was created but cannot be read back');
  say(
    `volume ${o.name} (${volume.id}): ${o.sizeMiB} MiB on ${host.name} (${host.location.city}) at ${formatAth(price, 6)} ATH per GiB-hour`,
  );
  return { volume, host };
}
