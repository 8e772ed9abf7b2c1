import { Command } from 'commander';
import { action, jsonOption, printJson, table, userKeystore } from '../common.js';

export function keysCommand(): Command {
  const keys = new Command('keys').description(
    'manage your ed25519 keys ($AETHIR_HOME/keys, default ~/.aethir/keys)',
  );
  keys
    .command('new')
    .description('create a new key')
    .argument('[name]', 'key name', 'default')
    .addOption(jsonOption())
    .action(
      action(async (name: string, opts: { json?: boolean }) => {
        const ks = userKeystore();
        const k = ks.create(name);
        if (opts.json) printJson({ name, address: k.address, publicKey: k.publicKey, path: ks.path(name) });
        else
          process.stdout.write(
            `created key "${name}"\n  address     ${k.address}\n  public key  ${k.publicKey}\n  file        ${ks.path(name)} (keep it secret)\n`,
          );
      }),
    );
  keys
    .command('ls')
    .description('list your keys and their addresses')
    .addOption(jsonOption())
    .action(
      action(async (opts: { json?: boolean }) => {
        const list = userKeystore().list();
        if (opts.json) printJson({ keys: list });
        else
          process.stdout.write(
            table(
              list.map((k) => ({ name: k.name, address: k.error ? `(unreadable: ${k.error})` : k.address })),
              'no keys yet: "aethir keys new" creates one (the devnet creates "developer")',
            ),
          );
      }),
    );
  return keys;
}
