import { Command } from 'commander';
import { constants as osConstants } from 'node:os';
import { AethirError } from '../../core/errors.js';
import type { LeaseScope } from '../../core/lease-token-wire.js';
import { signLeaseToken } from '../../core/lease-token.js';
import {
  downloadFromLease,
  execInLease,
  uploadToLease,
  type CopyProgress,
  type ExecResult,
  type LeaseSessionTarget,
} from '../../sdk/lease-session.js';
import { resolveVolume } from '../../sdk/volumes.js';
import {
  action,
  apiOption,
  client,
  jsonOption,
  printJson,
  userKeystore,
  type GlobalOpts,
} from '../common.js';

/** Sessions are short-lived authority: a token for one hour, one scope, this lease. */
const SESSION_TOKEN_TTL_MS = 3_600_000;

/** Signs a session token for `leaseId` with the user's key, after checking the lease is theirs. */
export async function sessionTarget(
  opts: GlobalOpts & { key?: string },
  leaseId: string,
  scope: LeaseScope,
): Promise<LeaseSessionTarget> {
  const api = client(opts);
  const keyName = opts.key ?? 'developer';
  const key = userKeystore().load(keyName);
  // `data:path`: a volume of this key's (by name or id) is copied without a lease
  if (scope === 'files' && !/^L[A-Za-z0-9_-]+$/.test(leaseId)) {
    const v = await resolveVolume(api, key.address, leaseId);
    const token = signLeaseToken(key, {
      chainId: await api.chainId(),
      lease: v.id,
      exp: Date.now() + SESSION_TOKEN_TTL_MS,
      scope: ['files'],
    });
    return { api: api.base, lease: v.id, token, resource: 'volumes' };
  }
  const lease = await api.leaseView(leaseId);
  if (!lease) throw new AethirError('NOT_FOUND', `no lease ${leaseId}`);
  if (lease.user !== key.address)
    throw new AethirError(
      'UNAUTHORIZED',
      `lease ${leaseId} belongs to ${lease.user}, not to key ${keyName} (${key.address})`,
    );
  if (lease.status !== 'open') throw new AethirError('CONFLICT', `lease ${leaseId} is ${lease.status}`);
  const token = signLeaseToken(key, {
    chainId: await api.chainId(),
    lease: leaseId,
    exp: Date.now() + SESSION_TOKEN_TTL_MS,
    scope: [scope],
  });
  return { api: api.base, lease: leaseId, token };
}

/** The exit code a shell would report: the command's, or 128 + the signal that ended it. */
export function exitCodeOf(r: ExecResult): number {
  if (r.exitCode !== null) return r.exitCode;
  const n = r.signal ? (osConstants.signals as Record<string, number>)[r.signal] : undefined;
  return n ? 128 + n : 1;
}

/**
 * Runs `command` in the lease wired to this terminal, like `docker exec -it`: raw keystrokes in
 * (Ctrl-C reaches the remote foreground job, not this process), the window size followed. Without
 * a terminal on stdin, plain pipes (stdin forwarded to EOF when `stdin`).
 */
export async function attachTerminal(
  t: LeaseSessionTarget,
  command: string[],
  opts: { tty: boolean; stdin: boolean },
): Promise<number> {
  const stdin = process.stdin;
  const useTty = opts.tty && stdin.isTTY === true && process.stdout.isTTY === true;
  const session = await execInLease(t, {
    command,
    ...(useTty ? { tty: { cols: process.stdout.columns || 80, rows: process.stdout.rows || 24 } } : {}),
    onStdout: (d) => process.stdout.write(d),
    onStderr: (d) => process.stderr.write(d),
  });
  const onResize = () => session.resize(process.stdout.columns || 80, process.stdout.rows || 24);
  const onData = (d: Buffer) => session.write(d);
  const onEnd = () => session.end();
  if (useTty) {
    stdin.setRawMode(true);
    process.stdout.on('resize', onResize);
  }
  if (useTty || opts.stdin) {
    stdin.on('data', onData);
    stdin.on('end', onEnd);
    stdin.resume();
  } else session.end();
  // Without a terminal, this process's own Ctrl-C is passed on (the session then ends the command).
  const onSigint = () => session.signal('SIGINT');
  if (!useTty) process.on('SIGINT', onSigint);
  try {
    return exitCodeOf(await session.exited);
  } finally {
    process.off('SIGINT', onSigint);
    stdin.off('data', onData);
    stdin.off('end', onEnd);
    if (useTty) {
      process.stdout.off('resize', onResize);
      stdin.setRawMode(false);
    }
    stdin.pause();
  }
}

export function shellCommand(): Command {
  return new Command('shell')
    .description(
      "a shell in a running lease (inside its sandbox or container, as its workload's user): a terminal with resize and Ctrl-C; exit code = the shell's",
    )
    .argument('<lease>', 'the lease id (yours: the session is signed with --key)')
    .option('--shell <path>', 'the shell to run', '/bin/sh')
    .option('--key <name>', "the lease's user key (in $AETHIR_HOME/keys)", 'developer')
    .addOption(apiOption())
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  aethir shell L123                     # /bin/sh in the lease',
        '  aethir shell L123 --shell /bin/bash   # another shell the image or host has',
        '  aethir shell L123 --key alice --api http://node:7420',
        '',
        'Up to 16 sessions per lease at once. Needs a terminal here; without one use "aethir exec".',
        "Exit code: the shell's (128 + N when it was killed by signal N); 1 when the session failed.",
      ].join('\n'),
    )
    .action(
      action(async (leaseId: string, opts: Record<string, any>) => {
        const t = await sessionTarget(opts, leaseId, 'exec');
        return attachTerminal(t, [opts.shell], { tty: true, stdin: true });
      }),
    );
}

export function execCommand(): Command {
  return new Command('exec')
    .description(
      'run a command in a running lease (inside its sandbox or container); its output here, exit code = its exit code',
    )
    .argument('<lease>', 'the lease id')
    .argument('<command...>', 'the command and its arguments (after --)')
    .option('-i, --interactive', 'pass this stdin to the command (until EOF)')
    .option('-t, --tty', 'give it a terminal (when this one is)')
    .option('--key <name>', "the lease's user key (in $AETHIR_HOME/keys)", 'developer')
    .addOption(apiOption())
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  aethir exec L123 -- nvidia-smi',
        '  aethir exec -it L123 -- python3                 # -i stdin, -t a terminal',
        "  echo 'print(1)' | aethir exec -i L123 -- python3",
        "  aethir exec L123 --key alice -- sh -c 'ls data | wc -l'",
        '',
        "Exit code: the command's (128 + N when it was killed by signal N); 1 when the session failed.",
      ].join('\n'),
    )
    .action(
      action(async (leaseId: string, command: string[], opts: Record<string, any>) => {
        const t = await sessionTarget(opts, leaseId, 'exec');
        return attachTerminal(t, command, { tty: !!opts.tty, stdin: !!opts.interactive });
      }),
    );
}

/** `LEASE:path` (a lease side of cp) or a local path. */
export function parseCpArg(s: string): { lease: string; path: string } | { local: string } {
  const m = /^([A-Za-z0-9_-]{1,64}):(.*)$/.exec(s);
  if (!m) return { local: s };
  return { lease: m[1]!, path: m[2] === '' ? '.' : m[2]! };
}

function fmtBytes(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i ? 1 : 0)} ${u[i]}`;
}

/** One line redrawn in place on a terminal: bytes, files, rate. Nothing when stderr is not a TTY. */
function progressLine(verb: string): { update: (p: CopyProgress) => void; done: () => void } {
  if (!process.stderr.isTTY) return { update: () => undefined, done: () => undefined };
  const start = Date.now();
  let last = 0;
  let line = '';
  const draw = (p: CopyProgress) => {
    const s = Math.max(0.001, (Date.now() - start) / 1000);
    line = `${verb} ${fmtBytes(p.bytes)}  ${p.files} files  ${fmtBytes(p.bytes / s)}/s`;
    process.stderr.write(`\r${line}\x1b[K`);
  };
  return {
    update: (p) => {
      if (Date.now() - last < 100) return;
      last = Date.now();
      draw(p);
    },
    done: () => void (line && process.stderr.write('\n')),
  };
}

export function cpCommand(): Command {
  return new Command('cp')
    .description(
      "copy files into or out of a running lease, or one of your persistent volumes (no lease needed), as a tar stream: paths on the remote side are relative to the lease's working directory or the volume's root and cannot leave it; the lease's disk quota or the volume's size applies",
    )
    .argument('<src>', 'a local path, or LEASE:path, or VOLUME:path')
    .argument('<dest>', 'LEASE:path or VOLUME:path, or a local path')
    .option(
      '--exclude <pattern...>',
      'leave out what matches (*, ?, ** across directories; no / : at any depth)',
    )
    .option('--key <name>', "the lease's user key (in $AETHIR_HOME/keys)", 'developer')
    .addOption(apiOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      "\nExamples:\n  aethir cp ./data L123:data --exclude '*.ckpt'\n  aethir cp L123:out ./out\n  aethir cp ./dataset data:dataset      # into your volume 'data', no lease running\n  aethir cp L123:model.bin ./model.bin --json   # { bytes, files, seconds }\n\nA dropped connection ends the copy with exit 1 and says what arrived whole (a file cut on the way\nin is removed here); nothing resumes by itself: the message ends with the command that copies\nit all again.",
    )
    .action(
      action(async (src: string, dest: string, opts: Record<string, any>) => {
        const from = parseCpArg(src);
        const to = parseCpArg(dest);
        const exclude = (opts.exclude as string[] | undefined) ?? [];
        const started = Date.now();
        // A copy cut by a dropped connection says what arrived and the command that copies it again.
        const retry = `aethir cp ${[src, dest, ...exclude.flatMap((x) => ['--exclude', x])]
          .map((a) => (/^[A-Za-z0-9_./:@=+-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`))
          .join(' ')}`;
        const orRetry = async <T>(p: Promise<T>): Promise<T> =>
          p.catch((e: unknown) => {
            if (e instanceof AethirError && e.details?.copied)
              throw new AethirError(e.code, `${e.message}\nretry: ${retry}`, {
                details: { ...e.details, retry },
              });
            throw e;
          });
        let result: CopyProgress;
        if ('local' in from && 'lease' in to) {
          const t = await sessionTarget(opts, to.lease, 'files');
          const bar = progressLine('sent');
          try {
            result = await orRetry(
              uploadToLease(t, {
                localPath: from.local,
                remotePath: to.path,
                exclude,
                onProgress: bar.update,
              }),
            );
          } finally {
            bar.done();
          }
        } else if ('lease' in from && 'local' in to) {
          const t = await sessionTarget(opts, from.lease, 'files');
          const bar = progressLine('received');
          try {
            result = await orRetry(
              downloadFromLease(t, {
                remotePath: from.path,
                localPath: to.local,
                exclude,
                onProgress: bar.update,
              }),
            );
          } finally {
            bar.done();
          }
        } else {
          throw new AethirError(
            'INVALID_ARGUMENT',
            'cp copies between this machine and a lease: one side is LEASE:path, the other a local path',
          );
        }
        const seconds = (Date.now() - started) / 1000;
        if (opts.json) return printJson({ ...result, seconds });
        process.stderr.write(
          `copied ${result.files} files (${fmtBytes(result.bytes)}) in ${seconds.toFixed(1)}s\n`,
        );
      }),
    );
}
