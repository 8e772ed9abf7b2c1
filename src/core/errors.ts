/**
 * Typed errors with a stable code (clients branch on `code`, never on `message`), whether
 * retrying can help (as in Temporal's SDK) and the HTTP status the API maps them to.
 */
export const ErrorCodes = {
  INVALID_ARGUMENT: { status: 400, retryable: false },
  INVALID_TRANSACTION: { status: 400, retryable: false },
  BAD_SIGNATURE: { status: 401, retryable: false },
  WRONG_CHAIN: { status: 400, retryable: false },
  NONCE_MISMATCH: { status: 409, retryable: true },
  INSUFFICIENT_FUNDS: { status: 402, retryable: false },
  UNAUTHORIZED: { status: 403, retryable: false },
  /** the sender is no one this node knows (e.g. telemetry from a key that never registered) */
  UNAUTHENTICATED: { status: 401, retryable: false },
  /** past a per-client limit (requests a minute, open streams, connections): retry later */
  RATE_LIMITED: { status: 429, retryable: true },
  NOT_FOUND: { status: 404, retryable: false },
  CONFLICT: { status: 409, retryable: true },
  NO_MATCH: { status: 404, retryable: true },
  CAPACITY_EXHAUSTED: { status: 409, retryable: true },
  CONTAINER_UNAVAILABLE: { status: 409, retryable: true },
  PROBE_FAILED: { status: 500, retryable: false },
  RUNTIME_FAILED: { status: 500, retryable: false },
  TIMEOUT: { status: 504, retryable: true },
  UNAVAILABLE: { status: 503, retryable: true },
  CONFIG_INVALID: { status: 400, retryable: false },
  STORE_CORRUPT: { status: 500, retryable: false },
  INTERNAL: { status: 500, retryable: false },
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class AethirError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AethirError';
    this.code = code;
    this.details = options?.details;
  }

  get retryable(): boolean {
    return ErrorCodes[this.code].retryable;
  }

  get httpStatus(): number {
    return ErrorCodes[this.code].status;
  }

  toJSON(): { code: ErrorCode; message: string; retryable: boolean; details?: Record<string, unknown> } {
    return {
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

export function isAethirError(e: unknown): e is AethirError {
  return e instanceof AethirError;
}

/** Invariant check: a failed assertion is a bug in Aethir, never bad input. */
export function invariant(cond: unknown, message: string): asserts cond {
  if (!cond) throw new AethirError('INTERNAL', `invariant violated: ${message}`);
}
