// The node's HTTP API, same origin: the routes and types the CLI's ApiClient (src/sdk) uses.
import type { PayloadInput, TxType } from '../../src/ledger/tx.js';
import type { LogEvent } from '../../src/sdk/client.js';
import { signTx, type BrowserKey } from './keys.js';

export type { ContainerView, LeaseView, StatusView, MatchView, LogEvent } from '../../src/sdk/client.js';

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: any,
  ) {
    super(message);
  }
}

export async function api<T = any>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = json?.error ?? {};
    throw new ApiError(e.code ?? 'HTTP_' + res.status, e.message ?? `HTTP ${res.status}`, e.details);
  }
  return json as T;
}
export const get = <T = any>(path: string) => api<T>('GET', path);

/** Block events from GET /v1/events: one subscription for the whole page. */
type BlockEvent = { height: number; root: string; txs: Array<{ id: string; type: string }> };
const listeners = new Set<(e: BlockEvent) => void>();
let source: EventSource | null = null;
export function onBlock(fn: (e: BlockEvent) => void): () => void {
  listeners.add(fn);
  if (!source) {
    source = new EventSource('/v1/events');
    source.addEventListener('block', (m) => {
      const e = JSON.parse((m as MessageEvent).data) as BlockEvent;
      for (const l of listeners) l(e);
    });
    source.onopen = () => document.body.classList.add('live');
    source.onerror = () => document.body.classList.remove('live');
  }
  return () => listeners.delete(fn);
}

let chain: string | null = null;
export async function chainId(): Promise<string> {
  return (chain ??= (await get('/v1/status')).chainId as string);
}

/** Signs with the account's next nonce and submits; answers once the block is durable. */
export async function send<T extends TxType>(
  key: BrowserKey,
  type: T,
  payload: PayloadInput<T>,
): Promise<{ id: string; height: number; result: any }> {
  for (let attempt = 0; ; attempt++) {
    const { nonce } = await get(`/v1/accounts/${key.address}`);
    const tx = await signTx(key, await chainId(), type, nonce, payload as Record<string, unknown>);
    try {
      return await api('POST', '/v1/transactions', tx);
    } catch (e) {
      if (e instanceof ApiError && e.code === 'NONCE_MISMATCH' && attempt === 0) continue;
      throw e;
    }
  }
}

/** The workload's output (NDJSON), from its first byte until it exits. */
export async function* logs(lease: string, token: string, signal: AbortSignal): AsyncGenerator<LogEvent> {
  // a lease's output is its user's: the browser signs a lease token with the user's key
  const res = await fetch(`/v1/leases/${lease}/logs`, {
    signal,
    headers: { authorization: `Bearer ${token}` },
  });
  if (!res.ok || !res.body) throw new ApiError('UNAVAILABLE', `log stream answered HTTP ${res.status}`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim()) yield JSON.parse(line) as LogEvent;
    }
  }
}
