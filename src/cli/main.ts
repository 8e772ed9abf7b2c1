import { Command, CommanderError } from 'commander';
type Loader = () => Promise<Command[]>;

/**
 * Every command, in the order `--help` lists them, with the module that makes it: a CLI call imports
 * only the module of the command it runs (the devnet's server, WebRTC and canvas stay unloaded for
 * `aethir rent`), and `--help` or an unknown command loads them all.
 */
const COMMANDS: ReadonlyArray<readonly [names: readonly string[], load: Loader]> = [
  [['devnet'], async () => [(await import('./commands/devnet.js')).devnetCommand()]],
  [
    ['node', 'network'],
    async () => {
      const m = await import('./commands/node.js');
      return [m.nodeCommand(), m.networkCommand()];
    },
  ],
  [['offers'], async () => [(await import('./commands/offers.js')).offersCommand()]],
  [['rent'], async () => [(await import('./commands/rent.js')).rentCommand()]],
  [
    ['logs', 'wait', 'topup', 'stop'],
    async () => {
      const m = await import('./commands/lease-life.js');
      return [m.logsCommand(), m.waitCommand(), m.topUpCommand(), m.stopCommand()];
    },
  ],
  [
    ['play', 'game'],
    async () => {
      const m = await import('./commands/play.js');
      return [m.playCommand(), m.gameCommand()];
    },
  ],
  [
    ['deploy', 'deployments'],
    async () => {
      const m = await import('./commands/deploy.js');
      return [m.deployCommand(), m.deploymentsCommand()];
    },
  ],
  [['volume'], async () => [(await import('./commands/volume.js')).volumeCommand()]],
  [['app'], async () => [(await import('./commands/app.js')).appCommand()]],
  [['containers'], async () => [(await import('./commands/containers.js')).containersCommand()]],
  [['container'], async () => [(await import('./commands/container.js')).containerCommand()]],
  [
    ['leases', 'lease'],
    async () => {
      const m = await import('./commands/leases.js');
      return [m.leasesCommand(), m.leaseCommand()];
    },
  ],
  [['account'], async () => [(await import('./commands/account.js')).accountCommand()]],
  [['keys'], async () => [(await import('./commands/keys.js')).keysCommand()]],
  [['escrow'], async () => [(await import('./commands/escrow.js')).escrowCommand()]],
  [
    ['reserve', 'reservations'],
    async () => {
      const m = await import('./commands/reserve.js');
      return [m.reserveCommand(), m.reservationsCommand()];
    },
  ],
  [['transfer'], async () => [(await import('./commands/transfer.js')).transferCommand()]],
  [['vesting'], async () => [(await import('./commands/vesting.js')).vestingCommand()]],
  [['lock'], async () => [(await import('./commands/lock.js')).lockCommand()]],
  [['dao'], async () => [(await import('./commands/dao.js')).daoCommand()]],
  [['ledger'], async () => [(await import('./commands/ledger.js')).ledgerCommand()]],
  [['location'], async () => [(await import('./commands/location.js')).locationCommand()]],
  [['status'], async () => [(await import('./commands/status.js')).statusCommand()]],
  [
    ['shell', 'exec', 'cp'],
    async () => {
      const m = await import('./commands/access.js');
      return [m.shellCommand(), m.execCommand(), m.cpCommand()];
    },
  ],
];

/** The names of every command (without loading one). */
export const COMMAND_NAMES: readonly string[] = COMMANDS.flatMap(([names]) => names);

/**
 * The CLI's command tree: with `only`, just the commands of the module that makes that command
 * (what `main` runs); without, or for a name no command has, every command.
 */
export async function program(only?: string): Promise<Command> {
  const p = new Command('aethir')
    .description('Aethir: a decentralized GPU cloud. Run a network, rent GPUs, serve them, audit the ledger.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      '\nThe CLI finds the node through --api or AETHIR_API (default http://127.0.0.1:7420).\nKeys live in $AETHIR_HOME/keys (default ~/.aethir/keys).',
    );
  const one = COMMANDS.find(([names]) => only !== undefined && names.includes(only));
  const loaded = await Promise.all((one ? [one] : COMMANDS).map(([, load]) => load()));
  for (const c of loaded.flat()) p.addCommand(c);
  return p;
}

export async function main(argv: string[]): Promise<void> {
  // the command is the first word after the program (the root takes no option with a value)
  const p = await program(argv.slice(2).find((a) => !a.startsWith('-')));
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
