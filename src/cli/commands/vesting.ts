import { Command } from 'commander';
import { TxSender } from '../../sdk/tx-sender.js';
import {
  action,
  addressOrKey,
  apiOption,
  client,
  fmtAth,
  jsonOption,
  printJson,
  table,
  userKeystore,
} from '../common.js';

export function vestingCommand(): Command {
  const cmd = new Command('vesting').description(
    'host earnings, rewards and checker rewards that vest before they can be claimed',
  );
  cmd
    .command('ls')
    .description('vesting entries of an account (default: your key)')
    .argument('[address]', 'an ath1… address')
    .option('--key <name>', 'key whose entries to show when no address is given', 'developer')
    .addOption(apiOption())
    .addOption(jsonOption())
    .action(
      action(async (address: string | undefined, opts: Record<string, any>) => {
        const addr = addressOrKey(address, opts.key);
        const { vesting } = await client(opts).account(addr);
        if (opts.json) return printJson({ address: addr, vesting });
        process.stdout.write(
          table(
            vesting.entries.map((e) => ({
              kind: e.kind,
              amount: fmtAth(e.amount, 9),
              earned: new Date(e.earnedAt).toISOString(),
              unlocks: new Date(e.unlockAt).toISOString(),
            })),
            'nothing vesting',
          ) + `claimable now ${fmtAth(vesting.claimable, 9)}, locked ${fmtAth(vesting.locked, 9)}\n`,
        );
      }),
    );
  cmd
    .command('claim')
    .description('claim everything that has vested into your balance')
    .option('--fast', 'checker rewards: claim after 30 days instead of 180, forfeiting 75% to the pool')
    .option('--key <name>', 'your key', 'developer')
    .addOption(apiOption())
    .addOption(jsonOption())
    .action(
      action(async (opts: Record<string, any>) => {
        const key = userKeystore().load(opts.key);
        const r = await new TxSender(key, client(opts)).send(
          'vesting.claim',
          opts.fast ? { fast: true } : {},
        );
        if (opts.json) return printJson({ tx: r.id, ...r.result });
        process.stdout.write(
          `claimed ${fmtAth(String(r.result.claimed), 9)}${BigInt(String(r.result.forfeited)) > 0n ? `, forfeited ${fmtAth(String(r.result.forfeited), 9)}` : ''}\n`,
        );
      }),
    );
  return cmd;
}
