import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AethirError, loadConfig } from '../../core/index.js';
import { verifyChain } from '../../ledger/index.js';
import { SqliteChainStore } from '../../store/index.js';
import { action, jsonOption, printJson } from '../common.js';

export function ledgerCommand(): Command {
  const cmd = new Command('ledger').description('audit the ledger');
  cmd
    .command('verify')
    .description(
      'replay the whole log from genesis and check every signature, nonce, rule, state root and block link',
    )
    .option('--data <dir>', 'data directory of the node (default $AETHIR_HOME/devnet)')
    .addOption(jsonOption())
    .action(
      action(async (opts: Record<string, any>) => {
        const config = loadConfig({ flags: { dataDir: opts.data } });
        const file = join(config.dataDir, 'ledger.sqlite');
        if (!existsSync(file))
          throw new AethirError(
            'NOT_FOUND',
            `no ledger at ${file} (start one with "aethir devnet" or pass --data)`,
          );
        const store = new SqliteChainStore(file);
        try {
          const genesis = store.readGenesis();
          if (!genesis) throw new AethirError('STORE_CORRUPT', `${file} holds no genesis`);
          const head = store.head();
          const started = Date.now();
          const tty = process.stderr.isTTY && !opts.json;
          const report = verifyChain(genesis, store.blocks(), (h) => {
            if (tty && h % 1000 === 0) process.stderr.write(`\rverifying… block ${h}/${head?.height ?? '?'}`);
          });
          if (tty) process.stderr.write('\r\x1b[K');
          const ms = Date.now() - started;
          if (opts.json) printJson({ ...report, file, ms });
          else if (report.ok)
            process.stdout.write(
              `ledger OK: ${report.blocks} blocks, ${report.txs} transactions replayed from genesis in ${ms} ms\nheight ${report.height}, state root ${report.root}\n`,
            );
          else
            process.stdout.write(
              `ledger INVALID at block ${report.error!.height}: ${report.error!.message}\n`,
            );
          return report.ok ? 0 : 3;
        } finally {
          store.close();
        }
      }),
    );
  return cmd;
}
