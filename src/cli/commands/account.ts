import { Command } from 'commander';
import { action, addressOrKey, apiOption, client, fmtAth, jsonOption, printJson } from '../common.js';

export function accountCommand(): Command {
  return new Command('account')
    .description('balance and nonce of an account (default: your key)')
    .argument('[address]', 'an ath1… address')
    .option('--key <name>', 'key whose account to show when no address is given', 'developer')
    .addOption(apiOption())
    .addOption(jsonOption())
    .action(
      action(async (address: string | undefined, opts: Record<string, any>) => {
        const addr = addressOrKey(address, opts.key);
        const a = await client(opts).account(addr);
        if (opts.json) return printJson(a);
        process.stdout.write(
          [
            `address   ${addr}`,
            `balance   ${fmtAth(a.balance, 18)}`,
            `escrow    ${fmtAth(a.escrow, 18)}`,
            `vesting   ${fmtAth(a.vesting.claimable, 18)} claimable, ${fmtAth(a.vesting.locked, 18)} locked`,
            `nonce     ${a.nonce}`,
            '',
          ].join('\n'),
        );
      }),
    );
}
