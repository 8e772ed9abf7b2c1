import { Command } from 'commander';
import { Renter } from '../../sdk/index.js';
import {
  action,
  apiOption,
  client,
  fmtAth,
  jsonOption,
  parseDuration,
  printJson,
  userKeystore,
} from '../common.js';

const keyOption = ['--key <name>', "the lease's user key (in $AETHIR_HOME/keys)", 'developer'] as const;

/** A command on one lease of the user's key: `<lease>`, --key, --api, --json. */
function leaseVerb(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .argument('<lease>', 'the lease id')
    .option(...keyOption)
    .addOption(apiOption())
    .addOption(jsonOption());
}

function renter(opts: Record<string, any>): Renter {
  return new Renter(client(opts), userKeystore().load(opts.key));
}

/** `aethir logs LEASE [-f] [--since 10m]`: a lease's output, kept after its workload exits. */
export function logsCommand(): Command {
  return leaseVerb(
    'logs',
    "a lease's output (stdout to stdout, stderr to stderr), also after it ended and after the API node restarted (read from the host's kept, size-capped copy); only its user may read it",
  )
    .option('-f, --follow', 'keep printing until the workload exits')
    .option('--since <duration>', 'only output from the last 10m, 2h, …')
    .addHelpText(
      'after',
      '\nExamples:\n  aethir logs L1234… -f\n  aethir logs L1234… --since 10m --json   # one JSON event a line\n  aethir logs L1234… --key alice --api http://node:7420',
    )
    .action(
      action(async (lease: string, opts: Record<string, any>) => {
        const sinceMs = opts.since ? Date.now() - parseDuration(opts.since) * 1000 : undefined;
        const r = renter(opts);
        await r.lease(lease);
        const abort = new AbortController();
        const onSigint = () => abort.abort();
        process.once('SIGINT', onSigint);
        try {
          for await (const e of r.logs(lease, {
            follow: Boolean(opts.follow),
            signal: abort.signal,
            ...(sinceMs !== undefined ? { sinceMs } : {}),
          })) {
            if (opts.json) process.stdout.write(JSON.stringify(e) + '\n');
            else if (e.type === 'stdout') process.stdout.write(e.data);
            else if (e.type === 'stderr') process.stderr.write(e.data);
            else if (e.type === 'exit' && opts.follow)
              process.stderr.write(
                `── exited: ${e.message ?? e.reason}, exit code ${e.exitCode ?? e.signal}\n`,
              );
          }
        } finally {
          process.off('SIGINT', onSigint);
        }
      }),
    );
}

/** `aethir wait LEASE`: until the lease ends; the exit code is the workload's. */
export function waitCommand(): Command {
  return leaseVerb(
    'wait',
    "wait until a lease ends (its workload exits, it is stopped, or its time is up); exits with the workload's code",
  ).action(
    action(async (lease: string, opts: Record<string, any>) => {
      const { exitCode, lease: l } = await renter(opts).wait(lease);
      const refunded = (BigInt(l.escrow) - BigInt(l.charged)).toString();
      if (opts.json)
        printJson({
          lease: l.id,
          status: l.status,
          exitCode,
          reason: l.closeReason,
          charged: l.charged,
          refunded,
        });
      else
        process.stderr.write(
          `lease ${l.id} ${l.status} (${l.closeReason ?? ''}): exit code ${exitCode}, charged ${fmtAth(l.charged, 12)}, refunded ${fmtAth(refunded, 12)}\n`,
        );
      return exitCode;
    }),
  );
}

/** `aethir stop LEASE`: close it now; the unused escrow comes back. */
export function stopCommand(): Command {
  return leaseVerb(
    'stop',
    'close a lease now: its workload is stopped, you pay for the time it ran, the rest of the escrow is refunded',
  ).action(
    action(async (lease: string, opts: Record<string, any>) => {
      const s = await renter(opts).stop(lease);
      if (opts.json) return printJson(s);
      process.stdout.write(
        `lease ${s.lease} stopped: charged ${fmtAth(s.charged, 18)}, refunded ${fmtAth(s.refund, 18)}\n`,
      );
    }),
  );
}
