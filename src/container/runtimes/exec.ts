/**
 * A second process in a running lease (a shell, `aethir exec`, the tar of `aethir cp`): started
 * INSIDE the lease's isolation (the sandbox's namespaces, uid and cgroup; the Docker container),
 * never beside it. Each runtime's workload implements `exec`; this file holds what they share.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ReadStream } from 'node:tty';
import { AethirError } from '../../core/errors.js';

/** Signals a user may send to what they run in their lease. */
export const EXEC_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGKILL', 'SIGHUP', 'SIGQUIT'] as const;
export type ExecSignal = (typeof EXEC_SIGNALS)[number];

export interface ExecRequest {
  /** argv; argv[0] resolved on the lease's PATH */
  command: string[];
  /** a terminal of this size (a shell); absent: plain pipes, stdout and stderr apart */
  tty?: { cols: number; rows: number };
  /** extra env over the workload's own (TERM for a terminal) */
  env?: Record<string, string>;
}

export interface ExecExit {
  exitCode: number | null;
  signal: string | null;
}

export interface ExecSession {
  /** input (a terminal's keystrokes, or stdin) */
  write(data: Buffer): void;
  /** no more input (EOF on stdin; a terminal gets ^D) */
  end(): void;
  resize(cols: number, rows: number): void;
  signal(sig: ExecSignal): void;
  /** output as it comes; a terminal's is all 'stdout' */
  onData(fn: (stream: 'stdout' | 'stderr', data: Buffer) => void): void;
  /** stop reading output until resume() (backpressure towards a slow client) */
  pause(): void;
  resume(): void;
  /** resolves (never rejects) when the process has ended */
  readonly exited: Promise<ExecExit>;
  /** ends it now (the client went away) */
  kill(): void;
}

const MAX_ARGS = 1000;
export const TERM_SIZE_MAX = 1000;

/** Throws INVALID_ARGUMENT for a request no runtime should take. */
export function checkExecRequest(req: ExecRequest): void {
  const bad = (m: string) => {
    throw new AethirError('INVALID_ARGUMENT', m);
  };
  if (!Array.isArray(req.command) || req.command.length === 0 || req.command.length > MAX_ARGS)
    bad('exec needs a command (1 to 1000 arguments)');
  for (const a of req.command)
    if (typeof a !== 'string' || a.includes('\0') || a.length > 100_000) bad('invalid command argument');
  if (req.command[0] === '') bad('empty command');
  if (req.tty) checkSize(req.tty.cols, req.tty.rows);
  for (const [k, v] of Object.entries(req.env ?? {}))
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || v.includes('\0')) bad(`invalid env ${k}`);
}

export function checkSize(cols: number, rows: number): void {
  for (const n of [cols, rows])
    if (!Number.isInteger(n) || n < 1 || n > TERM_SIZE_MAX)
      throw new AethirError('INVALID_ARGUMENT', `a terminal size is 1 to ${TERM_SIZE_MAX} columns and rows`);
}

interface PtyNative {
  open(cols: number, rows: number): { master: number; slave: number; pty: string };
  resize(fd: number, cols: number, rows: number): void;
}
let ptyNative: PtyNative | undefined;
function pty(): PtyNative {
  // node-pty's openpty (a native addon), loaded only when a terminal is asked for. Not its spawn:
  // that makes the spawned process the terminal's session leader here, outside the lease's pid
  // namespace, where a shell inside cannot see (or give the terminal back to) that process group.
  ptyNative ??= (createRequire(import.meta.url)('node-pty') as { native: PtyNative }).native;
  return ptyNative;
}

/**
 * Runs `argv` on this host as an ExecSession, in its own process group. With `tty`, its stdio is
 * a fresh pseudo-terminal that is no one's controlling terminal yet: argv must begin with
 * `setsid -c` (run where the terminal's session should live, e.g. inside a pid namespace), so the
 * program's job control (Ctrl-C to the foreground job) works there. Without, plain pipes.
 */
export function spawnExec(
  argv: readonly string[],
  opts: { cwd: string; env: Record<string, string>; tty?: { cols: number; rows: number } },
): ExecSession {
  let listener: ((s: 'stdout' | 'stderr', d: Buffer) => void) | undefined;
  const pending: Array<['stdout' | 'stderr', Buffer]> = [];
  const emit = (s: 'stdout' | 'stderr', d: Buffer) => (listener ? listener(s, d) : void pending.push([s, d]));
  const onData = (fn: (s: 'stdout' | 'stderr', d: Buffer) => void) => {
    listener = fn;
    for (const [s, d] of pending.splice(0)) fn(s, d);
  };
  if (opts.tty) {
    const t = pty().open(opts.tty.cols, opts.tty.rows);
    let child: ChildProcess;
    try {
      child = spawn(argv[0]!, argv.slice(1), {
        cwd: opts.cwd,
        env: opts.env,
        detached: true,
        stdio: [t.slave, t.slave, t.slave],
      });
    } finally {
      closeSync(t.slave);
    }
    const master = new ReadStream(t.master);
    let done = false;
    let ended = false;
    // All output is read once every holder of the terminal's other end has closed it (EIO).
    const drained = new Promise<void>((resolve) => {
      const end = () => {
        ended = true;
        resolve();
      };
      master.on('data', (d: Buffer) => emit('stdout', d));
      master.on('error', end);
      master.on('end', end);
      master.on('close', end);
    });
    const exited = new Promise<ExecExit>((resolve) => {
      child.on('error', () => {
        done = true;
        master.destroy();
        resolve({ exitCode: 127, signal: null });
      });
      child.on('close', (code, signal) => {
        done = true;
        // a background process may keep the terminal open: its output is not waited for long
        const late = setTimeout(() => master.destroy(), 1000);
        void drained.then(() => {
          clearTimeout(late);
          if (!ended) master.destroy();
          resolve({ exitCode: code, signal });
        });
      });
    });
    const sig = (s: string) => {
      if (done || !child.pid) return;
      try {
        process.kill(-child.pid, s);
      } catch {
        // already gone
      }
    };
    return {
      write: (d) => void (!master.destroyed && master.write(d)),
      end: () => void (!master.destroyed && master.write('\x04')),
      resize: (c, r) => {
        checkSize(c, r);
        if (!master.destroyed) pty().resize(t.master, c, r);
      },
      // the terminal's own keys reach its foreground job, wherever its session lives
      signal: (s) =>
        s === 'SIGINT' ? master.write('\x03') : s === 'SIGQUIT' ? master.write('\x1c') : sig(s),
      onData,
      pause: () => master.pause(),
      resume: () => master.resume(),
      exited,
      kill: () => {
        sig('SIGKILL');
        // its session inside loses the terminal: SIGHUP to what runs there
        master.destroy();
      },
    };
  }
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: opts.cwd,
    env: opts.env,
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let done = false;
  const exited = new Promise<ExecExit>((resolve) => {
    child.on('error', () => {
      done = true;
      resolve({ exitCode: 127, signal: null });
    });
    child.on('close', (code, signal) => {
      done = true;
      resolve({ exitCode: code, signal });
    });
  });
  child.stdout!.on('data', (d: Buffer) => emit('stdout', d));
  child.stderr!.on('data', (d: Buffer) => emit('stderr', d));
  child.stdin!.on('error', () => undefined);
  const sig = (s: string) => {
    if (done || !child.pid) return;
    try {
      process.kill(-child.pid, s);
    } catch {
      // already gone
    }
  };
  return {
    write: (d) => void (!done && child.stdin!.write(d)),
    end: () => void child.stdin!.end(),
    resize: () => undefined,
    signal: sig,
    onData,
    pause: () => {
      child.stdout!.pause();
      child.stderr!.pause();
    },
    resume: () => {
      child.stdout!.resume();
      child.stderr!.resume();
    },
    exited,
    kill: () => sig('SIGKILL'),
  };
}
