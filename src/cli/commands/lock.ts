import { Command } from 'commander';
import { parseAth } from '../../core/amount.js';
import { AethirError } from '../../core/errors.js';
import { TxSender } from '../../sdk/tx-sender.js';
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

export function lockCommand(): Command {
  return new Command('lock')
    .description(
      'lock ATH for voting weight in the DAO (weight = amount × time left / 4 years), or show / withdraw your lock',
    )
    .argument('[ath]', 'ATH to lock (or to add to your lock); omit to show your lock')
    .option('--for <duration>', 'lock until this long from now, e.g. 1w, 26w, 4y (extends an existing lock)')
    .option('--withdraw', 'withdraw an expired lock to your balance')
    .option('--key <name>', 'your key', 'developer')
    .addOption(apiOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      '\nExamples:\n  aethir lock 50000 --for 1y\n  aethir lock --for 4y        # extend\n  aethir lock                 # show\n  aethir lock --withdraw',
    )
    .action(
      action(async (amount: string | undefined, opts: Record<string, any>) => {
        const api = client(opts);
        const key = userKeystore().load(opts.key);
        const sender = new TxSender(key, api);
        if (opts.withdraw) {
          if (amount || opts.for)
            throw new AethirError('INVALID_ARGUMENT', '--withdraw takes no amount and no --for');
          const r = await sender.send('dao.unlock', {});
          if (opts.json) return printJson({ tx: r.id, ...r.result });
          process.stdout.write(`withdrew ${fmtAth(String(r.result.withdrawn))}\n`);
          return;
        }
        if (amount !== undefined || opts.for) {
          const current = await api.lock(key.address);
          const status = await api.status();
          const until = opts.for ? status.time + parseDuration(opts.for) * 1000 : (current.end ?? 0);
          if (!opts.for && !current.end)
            throw new AethirError('INVALID_ARGUMENT', 'a new lock needs --for, e.g. --for 1y');
          const r = await sender.send('dao.lock', {
            amount: amount === undefined ? 0n : parseAth(amount),
            until,
          });
          if (opts.json) return printJson({ tx: r.id, ...r.result });
          process.stdout.write(
            `locked ${fmtAth(String(r.result.amount))} until ${new Date(Number(r.result.end)).toISOString()}; voting weight now ${fmtAth(String(r.result.weight))}\n`,
          );
          return;
        }
        const l = await api.lock(key.address);
        if (opts.json) return printJson(l);
        if (BigInt(l.amount) === 0n)
          process.stdout.write('nothing locked: "aethir lock 1000 --for 1y" locks 1000 ATH for a year\n');
        else
          process.stdout.write(
            `locked   ${fmtAth(l.amount)}\nends     ${new Date(l.end!).toISOString()}${l.expired ? ' (expired: aethir lock --withdraw)' : ''}\nweight   ${fmtAth(l.weight)}\n`,
          );
      }),
    );
}
