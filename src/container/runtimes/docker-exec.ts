/**
 * `exec` for the Docker runtime: a process in the lease's running container through the Engine
 * API's exec endpoints (POST /containers/{id}/exec, then /exec/{id}/start with the connection
 * hijacked, /exec/{id}/resize, GET /exec/{id}/json for its exit code). It runs as the container's
 * user, with its env, namespaces, cgroup and capabilities (none): what the workload has, no more.
 */
import { request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import { AethirError } from '../../core/errors.js';
import { checkExecRequest, checkSize, type ExecExit, type ExecRequest, type ExecSession } from './exec.js';

/** What docker-exec needs of the runtime's engine client. */
export interface ExecEngine {
  readonly socketPath: string;
  readonly prefix: string;
  ok(
    method: string,
    path: string,
    what: string,
    opts?: { body?: unknown; timeoutMs?: number; ok?: number[] },
  ): Promise<{ status: number; body: Buffer }>;
}

/** POST `path` with the connection upgraded to a raw stream (the engine answers 101). */
function hijack(engine: ExecEngine, path: string, body: unknown): Promise<Socket> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      socketPath: engine.socketPath,
      method: 'POST',
      path: engine.prefix + path,
      agent: false,
      headers: {
        Host: 'docker',
        'Content-Type': 'application/json',
        'Content-Length': payload.length,
        Connection: 'Upgrade',
        Upgrade: 'tcp',
      },
    });
    req.on('upgrade', (_res, socket, head) => {
      if (head.length) socket.unshift(head);
      resolve(socket);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        reject(
          new AethirError(
            'RUNTIME_FAILED',
            `the Docker engine refused to start the exec (${res.statusCode}): ${Buffer.concat(chunks).toString().slice(0, 300)}`,
          ),
        ),
      );
    });
    req.on('error', (e) => reject(new AethirError('UNAVAILABLE', `Docker engine: ${e.message}`)));
    req.end(payload);
  });
}

/** Splits the engine's multiplexed stream (8-byte headers: stream, 0, 0, 0, size BE32), bytes kept as bytes. */
function frames(onFrame: (stream: 'stdout' | 'stderr', data: Buffer) => void): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  return (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    while (buf.length >= 8) {
      const size = buf.readUInt32BE(4);
      if (buf.length < 8 + size) break;
      onFrame(buf[0] === 2 ? 'stderr' : 'stdout', buf.subarray(8, 8 + size));
      buf = buf.subarray(8 + size);
    }
  };
}

export async function dockerExec(
  engine: ExecEngine,
  containerId: string,
  req: ExecRequest,
): Promise<ExecSession> {
  checkExecRequest(req);
  const tty = !!req.tty;
  const created = await engine.ok('POST', `/containers/${containerId}/exec`, 'cannot exec in the lease', {
    body: {
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: tty,
      Cmd: req.command,
      Env: Object.entries({ ...(tty ? { TERM: 'xterm-256color' } : {}), ...req.env }).map(
        ([k, v]) => `${k}=${v}`,
      ),
    },
  });
  const id = (JSON.parse(created.body.toString()) as { Id?: string }).Id;
  if (typeof id !== 'string' || !/^[0-9a-f]{12,64}$/.test(id))
    throw new AethirError('RUNTIME_FAILED', 'the Docker engine returned no exec id');
  const socket = await hijack(engine, `/exec/${id}/start`, { Detach: false, Tty: tty });
  const resize = async (cols: number, rows: number) => {
    checkSize(cols, rows);
    await engine
      .ok('POST', `/exec/${id}/resize?h=${rows}&w=${cols}`, 'cannot resize the terminal')
      .catch(() => undefined);
  };
  if (req.tty) await resize(req.tty.cols, req.tty.rows);
  let listener: ((s: 'stdout' | 'stderr', d: Buffer) => void) | undefined;
  const pending: Array<['stdout' | 'stderr', Buffer]> = [];
  const emit = (s: 'stdout' | 'stderr', d: Buffer) => (listener ? listener(s, d) : void pending.push([s, d]));
  const push = tty ? (d: Buffer) => emit('stdout', d) : frames(emit);
  socket.on('data', push);
  socket.on('error', () => undefined);
  const exited = new Promise<ExecExit>((resolve) => {
    socket.on('close', () => {
      void engine
        .ok('GET', `/exec/${id}/json`, 'cannot inspect the exec')
        .then((r) => {
          const st = JSON.parse(r.body.toString()) as { ExitCode?: number | null; Running?: boolean };
          resolve({ exitCode: typeof st.ExitCode === 'number' ? st.ExitCode : null, signal: null });
        })
        .catch(() => resolve({ exitCode: null, signal: null }));
    });
  });
  return {
    write: (d) => void (!socket.destroyed && socket.write(d)),
    // stdin's EOF: the write half closes, output still comes
    end: () => void (!socket.destroyed && (tty ? socket.write('\x04') : socket.end())),
    resize: (c, r) => void resize(c, r),
    // the engine has no signal for an exec: a terminal's own keys reach its foreground job
    signal: (s) => {
      if (!tty || socket.destroyed) return;
      if (s === 'SIGINT') socket.write('\x03');
      else if (s === 'SIGQUIT') socket.write('\x1c');
      else socket.destroy();
    },
    onData: (fn) => {
      listener = fn;
      for (const [s, d] of pending.splice(0)) fn(s, d);
    },
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    exited,
    kill: () => socket.destroy(),
  };
}
