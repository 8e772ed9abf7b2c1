/**
 * The container's door into its running leases for their users: shells, exec and file copies
 * (`aethir shell | exec | cp`), one WebSocket per session, at `/x/<lease>/exec` and
 * `/x/<lease>/files` on the container's endpoint server (the API node relays users' sessions
 * here). Each is authorized on this host, not only at the API: a lease token signed by the lease's
 * user (scope `exec` or `files`), for a lease that is open on the ledger and running here.
 * Everything runs inside the lease's isolation through the runtime's `exec`.
 *
 * The session protocol (docs/sdk.md), shared with src/sdk/lease-session.ts:
 *  - the client's first message is a JSON text frame: `{type:'exec', command, tty?}`,
 *    `{type:'upload', path}` or `{type:'download', path, exclude?}`;
 *  - binary frames carry bytes, their first byte the channel: 0 stdin / the upload's tar,
 *    1 stdout / the download's tar, 2 stderr;
 *  - text frames carry control: from the client `{type:'resize', cols, rows}`,
 *    `{type:'signal', signal}`, `{type:'eof'}`; from here `{type:'exit', exitCode, signal}`
 *    (the session's last word), `{type:'error', code, message}`.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { z } from 'zod';
import { AethirError, isAethirError } from '../core/errors.js';
import { verifyLeaseToken } from '../core/lease-token.js';
import { EXEC_SIGNALS, type ExecSession } from './runtimes/exec.js';
import type { RunningWorkload } from './runtimes/runtime.js';
import { leasePath, safeTarStream } from '../core/lease-files.js';

/** What the door needs to know of one lease. */
export interface LeaseAccessTarget {
  chainId: string;
  /** the lease's user: tokens must be signed by its key */
  user: string;
  /** the running workload (null: not started yet, or ended) */
  workload(): RunningWorkload | null;
  /** whether the ledger has the lease open (asked for every session) */
  isOpen(): Promise<boolean>;
  now(): number;
  /**
   * Where nothing runs (a volume's copies without a lease): a workload started for this one
   * session, in the same isolation, and its end (when the session closes). Throws to refuse.
   */
  session?(): Promise<{ w: RunningWorkload; end(): Promise<void> }>;
}

/** Sessions one lease may have at once (several shells, copies). */
export const MAX_SESSIONS_PER_LEASE = 16;
const MAX_MESSAGE = 1 << 20;

const Size = z.number().int().min(1).max(1000);
const RelPath = z.string().min(1).max(4096);
const Start = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('exec'),
      command: z.array(z.string().max(100_000)).min(1).max(1000),
      tty: z.object({ cols: Size, rows: Size }).strict().optional(),
    })
    .strict(),
  z.object({ type: z.literal('upload'), path: RelPath }).strict(),
  z
    .object({
      type: z.literal('download'),
      path: RelPath,
      exclude: z.array(z.string().min(1).max(256)).max(100).optional(),
    })
    .strict(),
]);
const Control = z.discriminatedUnion('type', [
  z.object({ type: z.literal('resize'), cols: Size, rows: Size }).strict(),
  z.object({ type: z.literal('signal'), signal: z.enum(EXEC_SIGNALS) }).strict(),
  z.object({ type: z.literal('eof') }).strict(),
]);

const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE });
const sessions = new Map<string, number>();

function tokenOf(req: IncomingMessage): string | undefined {
  const h = req.headers['x-aethir-lease-token'];
  if (typeof h === 'string') return h;
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}

function refuse(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  const reason = { 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 429: 'Too Many Requests' }[status];
  socket.end(
    `HTTP/1.1 ${status} ${reason ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/**
 * Takes an upgrade to `/x/<lease>/(exec|files)` for the lease `target` describes: checks the
 * token and the lease, then serves the session.
 */
export async function handleLeaseAccess(
  leaseId: string,
  kind: string,
  target: LeaseAccessTarget,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): Promise<void> {
  if (kind !== 'exec' && kind !== 'files') return refuse(socket, 404, 'NOT_FOUND', 'no such lease door');
  const token = tokenOf(req);
  if (!token)
    return refuse(
      socket,
      401,
      'UNAUTHORIZED',
      "a lease session needs a lease token signed by the lease's user",
    );
  try {
    verifyLeaseToken(token, {
      chainId: target.chainId,
      lease: leaseId,
      user: target.user,
      scope: kind,
      now: target.now(),
    });
  } catch (e) {
    return refuse(socket, 403, 'UNAUTHORIZED', (e as Error).message);
  }
  let w = target.workload();
  let end: (() => Promise<void>) | undefined;
  if (!(await target.isOpen().catch(() => false)))
    return refuse(socket, 409, 'CONFLICT', `lease ${leaseId} is not running here`);
  if ((sessions.get(leaseId) ?? 0) >= MAX_SESSIONS_PER_LEASE)
    return refuse(
      socket,
      429,
      'RATE_LIMITED',
      `a lease has at most ${MAX_SESSIONS_PER_LEASE} sessions at once`,
    );
  if (!w && target.session && kind === 'files')
    try {
      ({ w, end } = await target.session());
    } catch (e) {
      return refuse(socket, 409, isAethirError(e) ? e.code : 'CONFLICT', (e as Error).message);
    }
  if (!w?.exec) {
    await end?.();
    return refuse(socket, 409, 'CONFLICT', `lease ${leaseId} is not running here`);
  }
  const running = w;
  wss.handleUpgrade(req, socket, head, (ws) => {
    sessions.set(leaseId, (sessions.get(leaseId) ?? 0) + 1);
    if (end) ws.once('close', () => void end());
    ws.once('close', () => {
      const n = (sessions.get(leaseId) ?? 1) - 1;
      if (n > 0) sessions.set(leaseId, n);
      else sessions.delete(leaseId);
    });
    serve(ws, kind, running);
  });
}

function sendError(ws: WebSocket, e: unknown): void {
  const code = isAethirError(e) ? e.code : 'INTERNAL';
  ws.send(JSON.stringify({ type: 'error', code, message: (e as Error).message }));
  ws.close(1011);
}

function toBuffer(d: RawData): Buffer {
  return Buffer.isBuffer(d) ? d : Array.isArray(d) ? Buffer.concat(d) : Buffer.from(d);
}

function serve(ws: WebSocket, kind: 'exec' | 'files', w: RunningWorkload): void {
  let session: ExecSession | null = null;
  let upload: ReturnType<typeof safeTarStream> | null = null;
  /** what came while the session was starting, replayed in order once it has */
  let queue: Array<[Buffer, boolean]> | null = [];
  let started = false;
  const onFirst = async (text: string) => {
    const start = Start.parse(JSON.parse(text));
    if ((start.type === 'exec') !== (kind === 'exec'))
      throw new AethirError('INVALID_ARGUMENT', `a ${kind} session cannot ${start.type}`);
    if (start.type === 'exec') {
      session = await w.exec!({ command: start.command, ...(start.tty ? { tty: start.tty } : {}) });
    } else if (start.type === 'upload') {
      const dest = leasePath(start.path);
      session = await w.exec!({
        command: ['sh', '-c', 'mkdir -p -- "$1" && exec tar -x -f - -C "$1"', 'aethir-cp', dest],
      });
      // Every entry is checked (no absolute paths, no '..', no links out of the tree, no devices)
      // and re-packed before the lease's tar sees it.
      const s = session;
      upload = safeTarStream((chunk) => s.write(chunk));
      upload.done.then(
        () => s.end(),
        (e: unknown) => {
          s.kill();
          sendError(ws, e);
        },
      );
    } else {
      const src = leasePath(start.path);
      session = await w.exec!({
        command: ['tar', '-c', '-f', '-', ...(start.exclude ?? []).map((p) => `--exclude=${p}`), '--', src],
      });
    }
    const s = session;
    s.onData((stream, d) => {
      if (ws.readyState !== ws.OPEN) return;
      ws.send(Buffer.concat([Buffer.from([stream === 'stdout' ? 1 : 2]), d]));
      // backpressure: a slow client holds the process's output, not this host's memory
      if (ws.bufferedAmount > 4 * MAX_MESSAGE) {
        s.pause();
        const wait = setInterval(() => {
          if (ws.readyState !== ws.OPEN || ws.bufferedAmount < MAX_MESSAGE) {
            clearInterval(wait);
            s.resume();
          }
        }, 5);
      }
    });
    void s.exited.then((e) => {
      if (ws.readyState !== ws.OPEN) return;
      ws.send(JSON.stringify({ type: 'exit', exitCode: e.exitCode, signal: e.signal }));
      ws.close(1000);
    });
    const q = queue ?? [];
    queue = null;
    for (const [b, bin] of q) handle(b, bin);
  };
  const input = (d: Buffer) => {
    if (d[0] !== 0) return;
    if (upload) upload.write(d.subarray(1));
    else session?.write(d.subarray(1));
  };
  const handle = (buf: Buffer, isBinary: boolean) => {
    if (isBinary) return input(buf);
    try {
      const c = Control.parse(JSON.parse(buf.toString('utf8')));
      if (c.type === 'resize') session?.resize(c.cols, c.rows);
      else if (c.type === 'signal') session?.signal(c.signal);
      else if (upload) upload.end();
      else session?.end();
    } catch (e) {
      sendError(ws, new AethirError('INVALID_ARGUMENT', `bad control message: ${(e as Error).message}`));
    }
  };
  ws.on('message', (data, isBinary) => {
    const buf = toBuffer(data);
    if (!started) {
      if (isBinary)
        return sendError(ws, new AethirError('INVALID_ARGUMENT', 'a session starts with its request'));
      started = true;
      onFirst(buf.toString('utf8')).catch((e: unknown) =>
        sendError(
          ws,
          e instanceof z.ZodError ? new AethirError('INVALID_ARGUMENT', e.issues[0]!.message) : e,
        ),
      );
      return;
    }
    if (queue) queue.push([buf, isBinary]);
    else handle(buf, isBinary);
  });
  // The user went away: what they ran goes with the session.
  ws.on('close', () => session?.kill());
  ws.on('error', () => session?.kill());
}
