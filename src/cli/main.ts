import { Command, CommanderError } from 'commander';
import { accountCommand } from './commands/account.js';
import { cpCommand, execCommand, shellCommand } from './commands/access.js';
import { appCommand } from './commands/app.js';
import { containersCommand } from './commands/containers.js';
import { containerCommand } from './commands/container.js';
import { devnetCommand } from './commands/devnet.js';
import { keysCommand } from './commands/keys.js';
import { leaseCommand, leasesCommand } from './commands/leases.js';
import { ledgerCommand } from './commands/ledger.js';
import { locationCommand } from './commands/location.js';
import { rentCommand } from './commands/rent.js';
import { volumeCommand } from './commands/volume.js';
import { offersCommand } from './commands/offers.js';
import { logsCommand, stopCommand, topUpCommand, waitCommand } from './commands/lease-life.js';
import { statusCommand } from './commands/status.js';
import { escrowCommand } from './commands/escrow.js';
import { reservationsCommand, reserveCommand } from './commands/reserve.js';
import { transferCommand } from './commands/transfer.js';
import { vestingCommand } from './commands/vesting.js';
import { lockCommand } from './commands/lock.js';
import { daoCommand } from './commands/dao.js';
import { deployCommand, deploymentsCommand } from './commands/deploy.js';
import { networkCommand, nodeCommand } from './commands/node.js';
import { gameCommand, playCommand } from './commands/play.js';

export function program(): Command {
  const p = new Command('aethir')
    .description('Aethir: a decentralized GPU cloud. Run a network, rent GPUs, serve them, audit the ledger.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      '\nThe CLI finds the node through --api or AETHIR_API (default http://127.0.0.1:7420).\nKeys live in $AETHIR_HOME/keys (default ~/.aethir/keys).',
    );
  for (const c of [
    devnetCommand(),
    nodeCommand(),
    networkCommand(),
    offersCommand(),
    rentCommand(),
    logsCommand(),
    waitCommand(),
    topUpCommand(),
    stopCommand(),
    playCommand(),
    gameCommand(),
    deployCommand(),
    deploymentsCommand(),
    volumeCommand(),
    appCommand(),
    containersCommand(),
    containerCommand(),
    leasesCommand(),
    leaseCommand(),
    accountCommand(),
    keysCommand(),
    escrowCommand(),
    reserveCommand(),
    reservationsCommand(),
    transferCommand(),
    vestingCommand(),
    lockCommand(),
    daoCommand(),
    ledgerCommand(),
    locationCommand(),
    statusCommand(),
    shellCommand(),
    execCommand(),
    cpCommand(),
  ])
    p.addCommand(c);
  return p;
}

export async function main(argv: string[]): Promise<void> {
  const p = program();
  // Usage errors exit 2 at every depth (commander would exit 1 from nested commands).
  const override = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  override(p);
  try {
    await p.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    throw e;
  }
}
