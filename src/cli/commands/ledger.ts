import { Command } from 'commander';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AethirError, loadConfig } from '../../core/index.js';
import { verifyChain, verifyStateProof } from '../../ledger/index.js';
import { SqliteChainStore } from '../../store/index.js';
import { action, addressOrKey, apiOption, client, jsonOption, printJson } from '../common.js';

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
  cmd
    .command('proof')
    .description(
      'a Merkle proof of an account under the current state root, for anyone to check without the database',
    )
    .argument('[address]', 'an ath1… address (default: your key)')
    .option('--key <name>', 'key whose account to prove when no address is given', 'developer')
    .option('--out <file>', 'also write the proof (JSON) to this file')
    .addOption(apiOption())
    .addOption(jsonOption())
    .action(
      action(async (address: string | undefined, opts: Record<string, any>) => {
        const addr = addressOrKey(address, opts.key);
        const p = await client(opts).proof(addr);
        if (!verifyStateProof(p))
          throw new AethirError('STORE_CORRUPT', 'the node returned a proof that does not verify');
        if (opts.out) writeFileSync(opts.out, JSON.stringify(p, null, 2) + '\n');
        if (opts.json) return printJson(p);
        process.stdout.write(
          [
            `account     ${addr}`,
            `value       ${p.value}`,
            `state root  ${p.root} (height ${p.height})`,
            `proof       ${p.proof.length} steps; verifies: yes`,
            opts.out
              ? `written to  ${opts.out}  (check with: aethir ledger check-proof ${opts.out} --root ${p.root})`
              : '',
            '',
          ]
            .filter((l, i, a) => l !== '' || i === a.length - 1)
            .join('\n'),
        );
      }),
    );
  cmd
    .command('check-proof')
    .description(
      'check a proof file offline: the value hashes up to the root (give --root from a source you trust)',
    )
    .argument('<file>', 'a proof written by "aethir ledger proof --out"')
    .option('--root <hex>', 'the state root to check against (default: the one in the file)')
    .addOption(jsonOption())
    .action(
      action(async (file: string, opts: Record<string, any>) => {
        let p: any;
        try {
          p = JSON.parse(readFileSync(file, 'utf8'));
        } catch (e) {
          throw new AethirError(
            'INVALID_ARGUMENT',
            `cannot read a proof from ${file}: ${(e as Error).message}`,
          );
        }
        if (typeof p?.key !== 'string' || typeof p?.value !== 'string' || !Array.isArray(p?.proof))
          throw new AethirError('INVALID_ARGUMENT', `${file} is not a proof (needs key, value, proof)`);
        const root = opts.root ?? p.root;
        if (!/^[0-9a-f]{64}$/.test(String(root)))
          throw new AethirError('INVALID_ARGUMENT', '--root must be 64 hex characters');
        const ok = verifyStateProof({ key: p.key, value: p.value, proof: p.proof, root });
        if (opts.json) printJson({ ok, key: p.key, root });
        else
          process.stdout.write(
            ok ? `proof OK: ${p.key} = ${p.value} under root ${root}\n` : `proof INVALID for root ${root}\n`,
          );
        return ok ? 0 : 3;
      }),
    );
  return cmd;
}
