import type { Handlers } from './context.js';
import * as apps from './modules/apps/payloads.js';
import * as bank from './modules/bank/payloads.js';
import * as checks from './modules/checks/payloads.js';
import * as containers from './modules/containers/payloads.js';
import * as dao from './modules/dao/payloads.js';
import * as epochs from './modules/epochs/payloads.js';
import * as leases from './modules/leases/payloads.js';
import * as volumes from './modules/volumes/payloads.js';
import * as reservations from './modules/reservations/payloads.js';
import { handlers as appsHandlers } from './modules/apps/handlers.js';
import { handlers as bankHandlers } from './modules/bank/handlers.js';
import { handlers as checksHandlers } from './modules/checks/handlers.js';
import { handlers as containersHandlers } from './modules/containers/handlers.js';
import { handlers as daoHandlers } from './modules/dao/handlers.js';
import { handlers as epochsHandlers } from './modules/epochs/handlers.js';
import { handlers as leasesHandlers } from './modules/leases/handlers.js';
import { handlers as volumesHandlers } from './modules/volumes/handlers.js';
import { handlers as reservationsHandlers } from './modules/reservations/handlers.js';
import { publicPayloads as leasesPublic } from './modules/leases/queries.js';
import type { AppsEvent } from './modules/apps/events.js';
import type { BankEvent } from './modules/bank/events.js';
import type { ChecksEvent } from './modules/checks/events.js';
import type { ContainersEvent } from './modules/containers/events.js';
import type { DaoEvent } from './modules/dao/events.js';
import type { EpochsEvent } from './modules/epochs/events.js';
import type { LeasesEvent } from './modules/leases/events.js';
import type { VolumesEvent } from './modules/volumes/events.js';
import type { ReservationsEvent } from './modules/reservations/events.js';

/**
 * Every transaction type, gathered from the modules (src/ledger/modules/<name>/): its payload
 * schema (payloads.ts), its handler (handlers.ts) and the events it may emit (events.ts). This
 * is the one list: the wire schema, `TxType`, `Payload<T>`, `signTx`, the SDK and the machine's
 * dispatch all derive from it.
 */
export const Payloads = {
  ...bank.payloads,
  ...containers.payloads,
  ...leases.payloads,
  ...checks.payloads,
  ...epochs.payloads,
  ...dao.payloads,
  ...apps.payloads,
  ...volumes.payloads,
  ...reservations.payloads,
} as const;

export type TxType = keyof typeof Payloads;

/** The handler of each transaction type (the machine calls it; no one else). */
export const HANDLERS: Handlers<TxType> = {
  ...bankHandlers,
  ...containersHandlers,
  ...leasesHandlers,
  ...checksHandlers,
  ...epochsHandlers,
  ...daoHandlers,
  ...appsHandlers,
  ...volumesHandlers,
  ...reservationsHandlers,
};

/** Per type, the payload as the public API shows it (secrets left out); absent: shown as signed. */
const PUBLIC_PAYLOADS: Partial<Record<TxType, (p: Record<string, unknown>) => Record<string, unknown>>> = {
  ...leasesPublic,
};

/** A signed transaction (or a record holding one) as the public may see it. */
export function publicTx<R extends { tx: { type: string; payload: Record<string, unknown> } }>(r: R): R {
  const redact = PUBLIC_PAYLOADS[r.tx.type as TxType];
  if (!redact) return r;
  const payload = redact(r.tx.payload);
  return payload === r.tx.payload ? r : { ...r, tx: { ...r.tx, payload } };
}

/**
 * What applying a transaction announced, in the order it happened: what derived views (the
 * index, the agents' lease events, the API's event stream) follow instead of reading
 * transaction types. Not part of the state or its root: every node derives them alike.
 */
export type LedgerEvent =
  | BankEvent
  | ContainersEvent
  | LeasesEvent
  | ChecksEvent
  | EpochsEvent
  | DaoEvent
  | AppsEvent
  | VolumesEvent
  | ReservationsEvent;

export type LedgerEventType = LedgerEvent['type'];

export type { AppPublished } from './modules/apps/events.js';
export type { Transferred, VestingClaimed } from './modules/bank/events.js';
export type { CheckDecided, Slashed } from './modules/checks/events.js';
export type { ContainerChanged } from './modules/containers/events.js';
export type { ParamsChanged, ProposalDecided } from './modules/dao/events.js';
export type { EpochClosed } from './modules/epochs/events.js';
export type {
  LeaseClosed,
  LeaseOpened,
  LeasePreempted,
  LeaseSettled,
  LeaseToppedUp,
  LeasePaused,
  LeaseResumed,
} from './modules/leases/events.js';
export type { VolumeClosed, VolumeCreated, VolumeSettled } from './modules/volumes/events.js';
export type {
  ReservationClosed,
  ReservationOpened,
  ReservationSettled,
} from './modules/reservations/events.js';
