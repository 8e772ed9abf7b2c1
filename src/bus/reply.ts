import { AethirError, ErrorCodes, isAethirError, type ErrorCode } from '../core/errors.js';
import type { SubjectKind } from './messages.js';

/** Long enough for a busy indexer, short enough that an API call fails before its client gives up. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;

export type ReplyError = { code: string; message: string };

/**
 * What a responder's failure looks like on the wire. Only AethirErrors carry their code and
 * message across: anything else is a bug in the responder, so the requester learns that much
 * and no more.
 */
export function toReplyError(e: unknown): ReplyError {
  if (isAethirError(e)) return { code: e.code, message: e.message };
  return { code: 'INTERNAL', message: 'responder failed' };
}

/** The requester's side: the same code and message, so callers cannot tell a remote error from a local one. */
export function fromReplyError(err: ReplyError): AethirError {
  if (Object.hasOwn(ErrorCodes, err.code)) return new AethirError(err.code as ErrorCode, err.message);
  // A peer on a newer version may know codes this one does not.
  return new AethirError('INTERNAL', `${err.code}: ${err.message}`);
}

export function noResponder(subject: string): AethirError {
  return new AethirError('UNAVAILABLE', `no responder for ${subject}`);
}

export function timedOut(subject: string, ms: number): AethirError {
  return new AethirError('TIMEOUT', `no reply on ${subject} within ${ms} ms`);
}

/** Counters every bus keeps; see BusStats. */
export class Counters {
  dropped = 0;
  droppedMalformed = 0;
  readonly malformedByKind: Partial<Record<SubjectKind | 'other', number>> = {};

  malformed(kind: SubjectKind | 'other'): void {
    this.droppedMalformed++;
    this.malformedByKind[kind] = (this.malformedByKind[kind] ?? 0) + 1;
  }
}

/** Runs a subscriber, counting (never propagating) a throw or a rejected promise. */
export function runHandler(
  handler: (data: unknown, subject: string) => unknown,
  data: unknown,
  subject: string,
  onFailure: () => void,
): void {
  try {
    const r = handler(data, subject);
    // Async handlers are common (`(m) => void this.onX(m)` is easy to forget): a rejection
    // must not become an unhandled rejection that takes the whole node down.
    if (r instanceof Promise) r.catch(onFailure);
  } catch {
    onFailure();
  }
}
