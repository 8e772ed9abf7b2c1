import type { Reservation } from '../../model.js';

/** A reservation opened: the record as it was opened (its GPUs are no one else's until it closes). */
export interface ReservationOpened {
  type: 'ReservationOpened';
  reservation: Reservation;
}

/** A reservation's host was paid up to `charged` (reservation.settle). */
export interface ReservationSettled {
  type: 'ReservationSettled';
  reservation: string;
  container: string;
  charged: bigint;
}

/**
 * A reservation closed: its period ended, its user cancelled it, or its host failed a check
 * (the refund is pro rata then). Its GPUs are free again.
 */
export interface ReservationClosed {
  type: 'ReservationClosed';
  reservation: string;
  container: string;
  user: string;
  by: string;
  reason: string;
  refund: bigint;
}

export type ReservationsEvent = ReservationOpened | ReservationSettled | ReservationClosed;
