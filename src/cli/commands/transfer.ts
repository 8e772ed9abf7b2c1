import { Command } from 'commander';
import { parseAth } from '../../core/amount.js';
import { AethirError } from '../../core/errors.js';
import { isAddress } from '../../core/keys.js';
import { TxSender } from '../../sdk/tx-sender.js';
import { action, apiOption, client, jsonOption, printJson, userKeystore } from '../common.js';

export function transferCommand(): Command {
  return new Command('transfer')
    .description('send ATH from one of your keys to an address (e.g. to fund a container before it stakes)')
    .argument('<to>', 'recipient address (ath1…)')
    .argument('<ath>', 'amount in ATH, e.g. 100 or 2.5')
    .option('--key <name>', 'the key that pays', 'developer')
    .addOption(apiOption())
    .addOption(jsonOption())
    .action(
      action(async (to: string, amount: string, opts: Record<string, any>) => {
        if (!isAddress(to))
          throw new AethirError('INVALID_ARGUMENT', `"${to}" is not an address (ath1 + 40 hex)`);
        const value = parseAth(amount);
        if (value <= 0n) throw new AethirError('INVALID_ARGUMENT', 'the amount must be positive');
        const key = userKeystore().load(opts.key);
        const r = await new TxSender(key, client(opts)).send('transfer', { to, amount: value });
        if (opts.json) return printJson({ tx: r.id, height: r.height, to, amount: value.toString() });
        process.stdout.write(`sent ${amount} ATH to ${to} (tx ${r.id.slice(0, 16)}…, block ${r.height})\n`);
      }),
    );
}
