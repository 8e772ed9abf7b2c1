/**
 * The user's side of a session into a running lease (src/container/lease-access.ts has the
 * protocol): a command with or without a terminal (`aethir shell`, `aethir exec`), and files in
 * and out as a checked tar stream (`aethir cp`). Every session carries a lease token signed by
 * the lease's user (signLeaseToken, scope `exec` or `files`); the API node relays it to the
 * lease's container, and both check it.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, readdir, readlink, rm, symlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract, pack as tarPack, type Headers } from 'tar-stream';
import WebSocket from 'ws';
import { AethirError, ErrorCodes, type ErrorCode } from '../core/errors.js';
import { checkTarEntry, excludeMatcher, leasePath } from '../core/lease-files.js';

export interface LeaseSessionTarget {
  /** the API node's base URL */
  api: string;
  lease: string;
  /** a lease token of the lease's user with scope exec (commands) or files (cp) */
  token: string;
  /** what `lease` names: a lease (default), or a persistent volume (copies without a lease) */
  resource?: 'leases' | 'volumes';
  /**
   * where sessions go instead of the API node: a container's door for this lease,
   * `<endpoint server>/x/<lease>` (it checks the same token)
   */
  door?: string;
}

export interface ExecResult {
  exitCode: number | null;
  signal: string | null;
}

type Start =
  | { type: 'exec'; command: string[]; tty?: { cols: number; rows: number } }
  | { type: 'upload'; path: string }
  | { type: 'download'; path: string; exclude?: string[] };

function errorOf(code: string | undefined, message: string): AethirError {
  const c: ErrorCode = code && code in ErrorCodes ? (code as ErrorCode) : 'UNAVAILABLE';
  return new AethirError(c, message);
}

/**
 * Opens a session; resolves once the API node has accepted it (token, lease) with the socket,
 * and `ended`, which settles with the remote exit or rejects with the error that ended it.
 */
async function openSession(
  t: LeaseSessionTarget,
  kind: 'exec' | 'files',
  start: Start,
  onData: (stream: 1 | 2, data: Buffer) => void,
): Promise<{ ws: WebSocket; ended: Promise<ExecResult> }> {
  const url = t.door
    ? `${t.door.replace(/^http/, 'ws')}/${kind}`
    : `${t.api.replace(/\/+$/, '').replace(/^http/, 'ws')}/v1/${t.resource ?? 'leases'}/${t.lease}/${kind}`;
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${t.token}` }, maxPayload: 1 << 20 });
  let result: ExecResult | undefined;
  let failure: AethirError | undefined;
  const ended = new Promise<ExecResult>((resolve, reject) => {
    ws.on('message', (d: Buffer, isBinary) => {
      if (isBinary) {
        if (d[0] === 1 || d[0] === 2) onData(d[0], d.subarray(1));
        return;
      }
      let m: {
        type?: string;
        exitCode?: number | null;
        signal?: string | null;
        code?: string;
        message?: string;
      };
      try {
        m = JSON.parse(d.toString('utf8'));
      } catch {
        return;
      }
      if (m.type === 'exit') result = { exitCode: m.exitCode ?? null, signal: m.signal ?? null };
      else if (m.type === 'error') failure ??= errorOf(m.code, m.message ?? 'the session failed');
    });
    ws.on('close', () => {
      if (result) resolve(result);
      else
        reject(
          failure ??
            new AethirError('UNAVAILABLE', 'the connection to the lease dropped before the command ended'),
        );
    });
    ws.on('error', (e) => {
      failure ??= new AethirError('UNAVAILABLE', `cannot reach the lease: ${e.message}`);
    });
  });
  ended.catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        let e: { code?: string; message?: string } | undefined;
        try {
          e = (JSON.parse(body) as { error?: { code?: string; message?: string } }).error;
        } catch {
          // the status says it
        }
        reject(errorOf(e?.code, e?.message ?? `the API node refused the session (HTTP ${res.statusCode})`));
      });
    });
    ws.once('error', (e) => reject(new AethirError('UNAVAILABLE', `cannot reach ${t.api}: ${e.message}`)));
  });
  ws.send(JSON.stringify(start));
  return { ws, ended };
}

const frame = (channel: number, d: Buffer) => Buffer.concat([Buffer.from([channel]), d]);

/** A running command in a lease, as the SDK hands it out. */
export interface LeaseExec {
  /** input: keystrokes, or stdin bytes */
  write(data: Buffer | string): void;
  /** end of input (stdin EOF) */
  end(): void;
  resize(cols: number, rows: number): void;
  signal(sig: 'SIGINT' | 'SIGTERM' | 'SIGKILL' | 'SIGHUP' | 'SIGQUIT'): void;
  /** the command's end: its exit code or signal; rejects when the session failed or dropped */
  readonly exited: Promise<ExecResult>;
  close(): void;
}

/**
 * Runs `command` in the lease (inside its sandbox or container, as its workload's user). With
 * `tty`, a terminal of that size (output all on stdout); without, pipes.
 */
export async function execInLease(
  t: LeaseSessionTarget,
  opts: {
    command: string[];
    tty?: { cols: number; rows: number };
    onStdout: (d: Buffer) => void;
    onStderr?: (d: Buffer) => void;
  },
): Promise<LeaseExec> {
  const { ws, ended } = await openSession(
    t,
    'exec',
    { type: 'exec', command: opts.command, ...(opts.tty ? { tty: opts.tty } : {}) },
    (s, d) => (s === 1 ? opts.onStdout(d) : (opts.onStderr ?? opts.onStdout)(d)),
  );
  const send = (d: Buffer | string) => ws.readyState === WebSocket.OPEN && ws.send(d);
  return {
    write: (d) => void send(frame(0, Buffer.isBuffer(d) ? d : Buffer.from(d))),
    end: () => void send(JSON.stringify({ type: 'eof' })),
    resize: (cols, rows) => void send(JSON.stringify({ type: 'resize', cols, rows })),
    signal: (signal) => void send(JSON.stringify({ type: 'signal', signal })),
    exited: ended,
    close: () => ws.close(),
  };
}

export interface CopyProgress {
  bytes: number;
  files: number;
}

/** What a copy cut by a dropped connection had done (the error's `details.copied`). */
export interface CopyInterrupted extends CopyProgress {
  direction: 'upload' | 'download';
  /** the last file that went whole (sent whole / written whole here), if any */
  lastWhole?: string;
  /** the file that was being copied when the connection dropped (removed here on a download) */
  cut?: string;
}

function fmtSize(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i ? 1 : 0)} ${u[i]}`;
}

/**
 * The error of a copy cut by a dropped connection: what went whole, what was cut, and that
 * nothing resumes by itself (running the same copy again sends everything again).
 */
function copyDropped(c: CopyInterrupted, why: string): AethirError {
  const whole =
    c.direction === 'upload'
      ? `${c.files} file${c.files === 1 ? '' : 's'} sent whole (${fmtSize(c.bytes)} in all)`
      : `${c.files} file${c.files === 1 ? '' : 's'} written whole here (${fmtSize(c.bytes)} received)`;
  const last = c.lastWhole ? `, the last: ${c.lastWhole}` : '';
  const cut = c.cut
    ? c.direction === 'upload'
      ? `; ${c.cut} was cut (the lease may hold part of it)`
      : `; ${c.cut} was cut and removed here`
    : '';
  return new AethirError(
    'UNAVAILABLE',
    `the connection to the lease dropped during the copy (${why}): ${whole}${last}${cut}. Nothing resumes by itself: run the same copy again (it copies everything again, replacing what arrived)`,
    { details: { copied: c } },
  );
}

/** Waits until the socket has room (backpressure towards a slow lease). */
async function drain(ws: WebSocket): Promise<void> {
  while (ws.bufferedAmount > 4 << 20 && ws.readyState === WebSocket.OPEN)
    await new Promise((r) => setTimeout(r, 5));
  if (ws.readyState !== WebSocket.OPEN)
    throw new AethirError('UNAVAILABLE', 'the connection to the lease dropped during the copy');
}

/**
 * Copies a local file or directory tree into the lease at `remotePath` (relative to its working
 * directory): `cp ./data LEASE:data` puts data's contents in data/. Entries matching `exclude`
 * are left out. Resolves with what was sent once the lease has written it all.
 */
export async function uploadToLease(
  t: LeaseSessionTarget,
  opts: { localPath: string; remotePath: string; exclude?: string[]; onProgress?: (p: CopyProgress) => void },
): Promise<CopyProgress> {
  const dest = leasePath(opts.remotePath);
  const root = path.resolve(opts.localPath);
  await lstat(root).catch(() => {
    throw new AethirError('NOT_FOUND', `${opts.localPath}: no such file or directory`);
  });
  const skip = excludeMatcher(opts.exclude ?? []);
  let stderr = '';
  const { ws, ended } = await openSession(t, 'files', { type: 'upload', path: dest }, (s, d) => {
    if (s === 2) stderr += d.toString();
  });
  const progress: CopyProgress = { bytes: 0, files: 0 };
  let lastWhole: string | undefined;
  let inFlight: string | undefined;
  const dropped = (why: string) =>
    copyDropped(
      {
        direction: 'upload',
        ...progress,
        ...(lastWhole ? { lastWhole } : {}),
        ...(inFlight ? { cut: inFlight } : {}),
      },
      why,
    );
  const pk = tarPack();
  const sent = new Promise<void>((resolve, reject) => {
    pk.on('data', (chunk: Buffer) => {
      if (ws.readyState !== WebSocket.OPEN) {
        pk.destroy();
        return reject(dropped('the socket closed'));
      }
      ws.send(frame(0, chunk));
      progress.bytes += chunk.length;
      opts.onProgress?.({ ...progress });
      // backpressure: the archive waits while the socket is full
      if (ws.bufferedAmount > 4 << 20) {
        pk.pause();
        // a drop while the socket is full: the same account of what went whole as any other
        void drain(ws).then(
          () => pk.resume(),
          () => {
            pk.destroy();
            reject(dropped('the socket closed'));
          },
        );
      }
    });
    pk.on('end', () => {
      ws.send(JSON.stringify({ type: 'eof' }));
      resolve();
    });
    pk.on('error', reject);
  });
  sent.catch(() => undefined);
  const add = (header: Parameters<typeof pk.entry>[0], file?: string) =>
    new Promise<void>((resolve, reject) => {
      const sink = pk.entry(header, (e) => (e ? reject(e) : resolve()));
      if (file) createReadStream(file).on('error', reject).pipe(sink);
    });
  const walk = async (abs: string, rel: string): Promise<void> => {
    const s = await lstat(abs);
    if (rel && skip(rel)) return;
    const name = rel || path.basename(abs);
    if (s.isDirectory()) {
      if (rel) await add({ name, type: 'directory', mode: s.mode & 0o777, mtime: s.mtime });
      for (const n of (await readdir(abs)).sort()) await walk(path.join(abs, n), rel ? `${rel}/${n}` : n);
    } else if (s.isFile()) {
      inFlight = name;
      await add({ name, type: 'file', size: s.size, mode: s.mode & 0o777, mtime: s.mtime }, abs);
      inFlight = undefined;
      lastWhole = name;
      progress.files++;
    } else if (s.isSymbolicLink()) {
      await add({ name, type: 'symlink', linkname: await readlink(abs), mtime: s.mtime });
    }
  };
  try {
    // A drop rejects `sent` at once; the walk may then wait on an entry the archive never takes.
    await Promise.all([walk(root, '').then(() => pk.finalize()), sent]);
  } catch (e) {
    ws.close();
    throw e instanceof AethirError ? e : new AethirError('UNAVAILABLE', (e as Error).message);
  }
  let r: ExecResult;
  try {
    r = await ended;
  } catch (e) {
    // all was sent, but the lease's answer (that it wrote it all) never came
    if (e instanceof AethirError && e.code === 'UNAVAILABLE')
      throw dropped('everything was sent, but the lease did not confirm it wrote it');
    throw e;
  }
  if (r.exitCode !== 0)
    throw new AethirError(
      'RUNTIME_FAILED',
      `the lease could not write ${dest}: ${stderr.trim() || `tar exited ${r.exitCode ?? r.signal}`}`,
    );
  return progress;
}

/**
 * Copies `remotePath` (relative to the lease's working directory) out of the lease into
 * `localPath`: `cp LEASE:out ./out` puts out's contents in ./out. Every entry the host sends is
 * checked (no absolute paths, `..`, links out of the tree, devices) before anything is written.
 */
export async function downloadFromLease(
  t: LeaseSessionTarget,
  opts: { remotePath: string; localPath: string; exclude?: string[]; onProgress?: (p: CopyProgress) => void },
): Promise<CopyProgress> {
  const src = leasePath(opts.remotePath);
  const root = path.resolve(opts.localPath);
  const skip = excludeMatcher(opts.exclude ?? []);
  const ex = tarExtract();
  const progress: CopyProgress = { bytes: 0, files: 0 };
  let stderr = '';
  const { ended } = await openSession(
    t,
    'files',
    { type: 'download', path: src, ...(opts.exclude?.length ? { exclude: opts.exclude } : {}) },
    (s, d) => {
      if (s === 2) stderr += d.toString();
      else {
        progress.bytes += d.length;
        opts.onProgress?.({ ...progress });
        ex.write(d);
      }
    },
  );
  // The archive's top entry is `src` itself: its contents land in `root`.
  const prefix = src === '.' ? '' : `${src}/`;
  let lastWhole: string | undefined;
  /** the file being written now (removed when the connection drops before it is whole) */
  let writing: { dest: string; name: string } | undefined;
  const writeEntry = async (header: Headers, entry: NodeJS.ReadableStream): Promise<void> => {
    const e = checkTarEntry(header);
    const rel = e && (e.name === src ? '' : e.name.startsWith(prefix) ? e.name.slice(prefix.length) : null);
    // a single file copied out lands at localPath itself
    const single = e?.type === 'file' && rel === '';
    if (!e || rel === null || (rel === '' && !single) || (rel !== '' && skip(rel)))
      return void entry.resume();
    const dest = single ? root : path.join(root, rel);
    if (!single) {
      await mkdir(root, { recursive: true });
      // never through a symlink this copy (or anyone) put in the way
      await assertNoSymlinkBetween(root, path.dirname(dest));
    }
    if (e.type === 'directory') {
      await mkdir(dest, { recursive: true, mode: e.mode | 0o700 });
      entry.resume();
    } else if (e.type === 'symlink') {
      await symlink(e.linkname!, dest);
      entry.resume();
    } else {
      await mkdir(path.dirname(dest), { recursive: true });
      writing = { dest, name: e.name };
      await pipeline(entry, createWriteStream(dest, { mode: e.mode }));
      writing = undefined;
      if (e.mtime) await utimes(dest, e.mtime, e.mtime);
      lastWhole = e.name;
      progress.files++;
    }
  };
  const written = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, entry, next) => {
      writeEntry(header, entry).then(
        () => next(),
        (err: unknown) => {
          entry.resume();
          reject(err);
          ex.destroy();
        },
      );
    });
    ex.on('finish', resolve);
    ex.on('error', (err) =>
      reject(
        err instanceof AethirError
          ? err
          : new AethirError('INVALID_ARGUMENT', `bad archive from the lease: ${err.message}`),
      ),
    );
  });
  written.catch(() => undefined);
  let r: ExecResult;
  try {
    r = await ended;
  } catch (e) {
    ex.destroy();
    if (!(e instanceof AethirError && e.code === 'UNAVAILABLE')) throw e;
    // What is here is whole: a file cut by the drop is removed, not left looking complete.
    const cut = writing;
    if (cut) await rm(cut.dest, { force: true }).catch(() => undefined);
    throw copyDropped(
      {
        direction: 'download',
        ...progress,
        ...(lastWhole ? { lastWhole } : {}),
        ...(cut ? { cut: cut.name } : {}),
      },
      e.message.replace(
        /^the connection to the lease dropped before the command ended$/,
        'the socket closed',
      ),
    );
  } finally {
    ex.end();
  }
  await written;
  if (r.exitCode !== 0)
    throw new AethirError(
      r.exitCode === 2 || /No such file|Cannot stat/i.test(stderr) ? 'NOT_FOUND' : 'RUNTIME_FAILED',
      `the lease could not read ${src}: ${stderr.trim() || `tar exited ${r.exitCode ?? r.signal}`}`,
    );
  return progress;
}

async function assertNoSymlinkBetween(root: string, dir: string): Promise<void> {
  const rel = path.relative(root, dir);
  if (rel.startsWith('..') || path.isAbsolute(rel))
    throw new AethirError('INVALID_ARGUMENT', `${dir} is outside ${root}`);
  let p = root;
  for (const part of rel ? rel.split(path.sep) : []) {
    p = path.join(p, part);
    const s = await lstat(p).catch(() => null);
    if (!s) return;
    if (s.isSymbolicLink())
      throw new AethirError('INVALID_ARGUMENT', `the archive writes through the symlink ${p}: refused`);
  }
}
