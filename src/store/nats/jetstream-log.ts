import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  connect,
  nanos,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
} from 'nats';
import { canonicalize, decodeCanonical } from '../../core/canonical.js';
import { AethirError } from '../../core/errors.js';
import { genesisHash, genesisToWire, parseGenesis, type Genesis } from '../../ledger/genesis.js';
import { txId } from '../../ledger/tx.js';

/** One entry of the log: seq 1 holds the genesis, every later seq one signed transaction. */
export interface LogEntry {
  seq: number;
  /** the time the log server stored the entry (ms): the block time of the block it becomes */
  time: number;
  /** the raw transaction as appended (validated by whoever applies it, never trusted) */
  tx: unknown;
}

export interface AppendResult {
  seq: number;
  /** the log had this transaction already (a retried submission): `seq` is where it sits */
  duplicate: boolean;
}

export interface JetStreamLogOptions {
  servers: string | string[];
  chainId: string;
  /** copies of the stream on a NATS cluster: 1 here, 3 or 5 in production */
  replicas?: number;
  /** names this connection in the server's monitoring */
  name?: string;
  /** how long a retried submission is still recognised as the same one (default 2 min) */
  duplicateWindowMs?: number;
  /** create the stream when it is missing (default true); readers that only look pass false */
  create?: boolean;
}

const enc = new TextEncoder();
/** one attempt of an append: longer than a healthy acknowledgement takes, short next to a timeout */
const APPEND_ATTEMPT_MS = 2_000;
const dec = new TextDecoder();

export function streamNameOf(chainId: string): string {
  return `AETHIR_${chainId.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

/**
 * The ordered transaction log of the scale-out mode: a NATS JetStream stream on file storage.
 * JetStream orders entries (RAFT across the stream's replicas) and deduplicates appends by
 * message id (the transaction id), so a client that retries after a lost acknowledgement gets
 * its transaction applied once. Nothing here decides what a transaction means: replicas fold
 * the entries through the same deterministic `Ledger.apply`.
 */
export class JetStreamLog {
  readonly stream: string;
  private readonly subject: string;

  private constructor(
    readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly chainId: string,
  ) {
    this.stream = streamNameOf(chainId);
    this.subject = `aethir.${chainId}.log`;
  }

  static async connect(opts: JetStreamLogOptions): Promise<JetStreamLog> {
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: opts.servers,
        name: opts.name ?? 'aethir-log',
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
      });
    } catch (e) {
      throw new AethirError(
        'UNAVAILABLE',
        `cannot reach NATS at ${String(opts.servers)}: ${(e as Error).message}`,
        { cause: e },
      );
    }
    try {
      const jsm = await nc.jetstreamManager();
      const log = new JetStreamLog(nc, nc.jetstream(), jsm, opts.chainId);
      if (opts.create !== false)
        await log.ensureStream(opts.replicas ?? 1, opts.duplicateWindowMs ?? 120_000);
      return log;
    } catch (e) {
      await nc.close().catch(() => undefined);
      if (e instanceof AethirError) throw e;
      throw new AethirError(
        'UNAVAILABLE',
        `NATS at ${String(opts.servers)} has no usable JetStream (start nats-server with -js): ${(e as Error).message}`,
        { cause: e },
      );
    }
  }

  private async ensureStream(replicas: number, duplicateWindowMs: number): Promise<void> {
    try {
      await this.jsm.streams.info(this.stream);
      return;
    } catch (e) {
      if (!/not found/i.test((e as Error).message)) throw e;
    }
    await this.jsm.streams.add({
      name: this.stream,
      subjects: [`${this.subject}.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.New,
      num_replicas: replicas,
      duplicate_window: nanos(duplicateWindowMs),
      // The log is the ledger: it is never trimmed.
      max_msgs: -1,
      max_bytes: -1,
      max_age: 0,
    });
  }

  /**
   * Writes the genesis as entry 1, once: whoever comes first creates the network, and a
   * later init with the same genesis is a no-op. A different genesis is a CONFLICT.
   */
  async init(genesis: Genesis): Promise<{ created: boolean }> {
    const existing = await this.readGenesis();
    if (existing) {
      if (genesisHash(existing) !== genesisHash(genesis))
        throw new AethirError(
          'CONFLICT',
          `the log of chain "${this.chainId}" already starts with another genesis`,
        );
      return { created: false };
    }
    try {
      await this.js.publish(`${this.subject}.genesis`, enc.encode(canonicalize(genesisToWire(genesis))), {
        msgID: `genesis:${genesisHash(genesis)}`,
        expect: { lastSequence: 0 },
      });
      return { created: true };
    } catch (e) {
      // Another node won the race: accept it only if it wrote the same genesis.
      const now = await this.readGenesis();
      if (now && genesisHash(now) === genesisHash(genesis)) return { created: false };
      throw new AethirError('CONFLICT', `could not write the genesis: ${(e as Error).message}`, { cause: e });
    }
  }

  async readGenesis(): Promise<Genesis | undefined> {
    let data: Uint8Array;
    try {
      data = (await this.jsm.streams.getMessage(this.stream, { seq: 1 })).data;
    } catch (e) {
      if (/no message found|not found/i.test((e as Error).message)) return undefined; // no stream or empty
      throw new AethirError('UNAVAILABLE', `cannot read the log: ${(e as Error).message}`, { cause: e });
    }
    return parseGenesis(decodeCanonical(dec.decode(data)));
  }

  /**
   * Appends one signed transaction; resolves once JetStream has stored it (acknowledged).
   *
   * Tried in short attempts until `timeoutMs`: a publish made while the connection is down (a
   * NATS restart, a partition) is never answered, so a single attempt would stall for the whole
   * timeout even when the server is back within a second. Every attempt carries the same message
   * id, so one that was stored but whose acknowledgement was lost is not stored twice: the retry
   * is acknowledged as a duplicate at the original sequence.
   */
  async append(tx: { sig: string } & Record<string, unknown>, timeoutMs = 10_000): Promise<AppendResult> {
    const data = enc.encode(canonicalize(tx));
    const msgID = txId(tx as never);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      try {
        const ack = await this.js.publish(`${this.subject}.tx`, data, {
          msgID,
          timeout: Math.max(1, Math.min(left, APPEND_ATTEMPT_MS)),
        });
        return { seq: ack.seq, duplicate: ack.duplicate };
      } catch (e) {
        const msg = (e as Error).message;
        // Unanswered, or no JetStream behind the subject yet (a server still starting).
        const transient = /timeout|503|no responders/i.test(msg);
        if (transient && !this.nc.isClosed() && deadline - Date.now() > 0) {
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        throw new AethirError(
          /timeout/i.test(msg) ? 'TIMEOUT' : 'UNAVAILABLE',
          `the log did not acknowledge the transaction: ${msg}`,
          { cause: e },
        );
      }
    }
  }

  /** The last sequence number the stream holds. */
  async lastSeq(): Promise<number> {
    return (await this.jsm.streams.info(this.stream)).state.last_seq;
  }

  /**
   * Follows the log from `fromSeq` through the durable consumer `durable`: the consumer lives on
   * the server, so the position survives reconnects and server restarts, and it is re-created
   * at every start from the caller's own durable height (its store is the source of truth: a
   * replica that lost its data starts again from where its store is). Entries are handed over
   * strictly in order; `onEntry` resolving means the entry is durable on the caller's side and
   * may be acknowledged. Returns a stop function.
   */
  async follow(
    durable: string,
    fromSeq: number,
    onEntry: (e: LogEntry) => Promise<void>,
    onError: (e: Error) => void = () => {},
  ): Promise<{ stop: () => Promise<void>; done: Promise<void> }> {
    const name = durable.replace(/[^A-Za-z0-9_-]/g, '_');
    // (Re)created at `next` at the start and after any failure, so the server hands over
    // exactly what this follower has not made durable yet.
    const reset = async (start: number): Promise<void> => {
      await this.jsm.consumers.delete(this.stream, name).catch(() => false);
      await this.jsm.consumers.add(this.stream, {
        durable_name: name,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: start,
        max_ack_pending: 20_000,
        ack_wait: nanos(60_000),
      });
    };
    await reset(fromSeq);
    let fresh = true;
    let stopped = false;
    let messages: ConsumerMessages | null = null;
    let next = fromSeq;
    const run = async (): Promise<void> => {
      while (!stopped) {
        try {
          if (!fresh) await reset(next);
          fresh = false;
          const consumer = await this.js.consumers.get(this.stream, name);
          messages = await consumer.consume({ max_messages: 1024 });
          // stop() may have come while consume() was being set up: it saw no iterator to end.
          if (stopped) messages.stop();
          for await (const m of messages) {
            if (stopped) break;
            const seq = m.seq;
            if (seq < next) {
              m.ack(); // redelivered after a reconnect: already handed over
              continue;
            }
            if (seq > next) throw new Error(`the log skipped from ${next} to ${seq}`);
            let tx: unknown;
            try {
              tx = decodeCanonical(dec.decode(m.data));
            } catch {
              // Undecodable bytes are still an entry: the replica rejects it deterministically.
              tx = null;
            }
            await onEntry({ seq, time: Math.floor(m.info.timestampNanos / 1e6), tx });
            next = seq + 1;
            m.ack();
          }
        } catch (e) {
          if (stopped) break;
          onError(e as Error);
        }
        if (!stopped) await new Promise((r) => setTimeout(r, 250));
      }
    };
    const done = run();
    return {
      done,
      stop: async () => {
        stopped = true;
        messages?.stop();
        await done;
      },
    };
  }

  /** Deletes the whole stream: the network's history. For tests and throwaway networks only. */
  async destroy(): Promise<void> {
    await this.jsm.streams.delete(this.stream).catch(() => false);
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }
}
