import { Command } from 'commander';
import { parseAth } from '../../core/amount.js';
import { TxSender } from '../../sdk/tx-sender.js';
import { action, apiOption, client, fmtAth, jsonOption, printJson, userKeystore } from '../common.js';

export function escrowCommand(): Command {
  const cmd = new Command('escrow').description(
    'your escrow balance: what leases lock from (rent tops it up as needed)',
  );
  for (const [verb, type, help] of [
    ['deposit', 'escrow.deposit', 'move ATH from your balance into escrow'],
    ['withdraw', 'escrow.withdraw', 'move ATH from escrow back to your balance'],
  ] as const) {
    cmd
      .command(verb)
      .description(help)
      .argument('<ath>', 'amount in ATH, e.g. 2.5')
      .option('--key <name>', 'your key', 'developer')
      .addOption(apiOption())
      .addOption(jsonOption())
      .action(
        action(async (amount: string, opts: Record<string, any>) => {
          const api = client(opts);
          const key = userKeystore().load(opts.key);
          const r = await new TxSender(key, api).send(type, { amount: parseAth(amount) });
          if (opts.json) return printJson({ tx: r.id, height: r.height, escrow: r.result.escrow });
          process.stdout.write(
            `${verb === 'deposit' ? 'deposited' : 'withdrew'} ${amount} ATH; escrow now ${fmtAth(String(r.result.escrow))}\n`,
          );
        }),
      );
  }
  return cmd;
}
