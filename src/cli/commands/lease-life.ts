import { Command } from 'commander';
import { parseAth } from '../../core/amount.js';
import { writeOrWait } from '../../core/backpressure.js';
import { AethirError } from '../../core/errors.js';
import { Renter } from '../../sdk/renter.js';
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
import { followFunds } from '../top-ups.js';

const warn = (line: string) => void process.stderr.write(`${line}\n`);

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
        // while following: warnings when its escrow runs low or it is paused (top-ups from rent --top-up)
        const funds = new AbortController();
        if (opts.follow && !opts.json) void followFunds(r, lease, { signal: funds.signal, say: warn });
        try {
          for await (const e of r.logs(lease, {
            follow: Boolean(opts.follow),
            signal: abort.signal,
            ...(sinceMs !== undefined ? { sinceMs } : {}),
          })) {
            if (opts.json) await writeOrWait(process.stdout, JSON.stringify(e) + '\n');
            else if (e.type === 'stdout') await writeOrWait(process.stdout, e.data);
            else if (e.type === 'stderr') await writeOrWait(process.stderr, e.data);
            else if (e.type === 'exit' && opts.follow)
              process.stderr.write(
                `── exited: ${e.message ?? e.reason}, exit code ${e.exitCode ?? e.signal}\n`,
              );
          }
        } finally {
          funds.abort();
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
      const r = renter(opts);
      // while waiting: warnings when its escrow runs low or it is paused (top-ups from rent --top-up)
      const funds = new AbortController();
      if (!opts.json) void followFunds(r, lease, { signal: funds.signal, say: warn });
      const { exitCode, lease: l } = await r.wait(lease).finally(() => funds.abort());
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

/** `aethir lease topup LEASE --amount ATH` (and `aethir topup`): more escrow from your balance; a paused lease resumes. */
export function topUpCommand(name = 'topup'): Command {
  return leaseVerb(
    name,
    "move ATH from your balance into a lease's escrow: it runs longer; a lease paused because its escrow ran out resumes (its workload restarts in its kept files)",
  )
    .requiredOption(
      '--amount <ath>',
      'how much, in ATH (at most what the rest of its maximum duration can spend)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  aethir lease topup L1234… --amount 0.5\n  aethir topup L1234… --amount 2 --json',
    )
    .action(
      action(async (lease: string, opts: Record<string, any>) => {
        let amount: bigint;
        try {
          amount = parseAth(String(opts.amount));
        } catch (e) {
          throw new AethirError('INVALID_ARGUMENT', `--amount: ${(e as Error).message}`);
        }
        if (amount <= 0n) throw new AethirError('INVALID_ARGUMENT', '--amount must be more than 0 ATH');
        const r = await renter(opts).topUp(lease, amount);
        if (opts.json) return printJson(r);
        process.stdout.write(
          `lease ${r.lease} topped up with ${fmtAth(r.amount, 18)}: escrow ${fmtAth(r.escrow, 18)}${r.resumed ? ' (resumed)' : ''}\n`,
        );
      }),
    );
}
