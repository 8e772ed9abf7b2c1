import { CommanderError, type Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { COMMAND_NAMES, main, program } from '../../../src/cli/main.js';

/** Every command of the tree with its path, e.g. ["containers", "ls"]. */
function walk(cmd: Command, path: string[] = []): Array<{ path: string[]; cmd: Command }> {
  return cmd.commands.flatMap((c) => [
    { path: [...path, c.name()], cmd: c },
    ...walk(c, [...path, c.name()]),
  ]);
}

function find(root: Command, path: string): Command {
  const hit = walk(root).find((c) => c.path.join(' ') === path);
  if (!hit) throw new Error(`no command "${path}"`);
  return hit.cmd;
}

/** Runs `aethir <args> --help` on a fresh program and returns what it printed. */
async function help(args: string[]): Promise<string> {
  const p = await program();
  let out = '';
  for (const c of [p, ...walk(p).map((w) => w.cmd)]) {
    c.exitOverride();
    c.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  }
  let err: unknown;
  try {
    await p.parseAsync([...args, '--help'], { from: 'user' });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CommanderError);
  expect((err as CommanderError).exitCode).toBe(0);
  return out;
}

const root = await program();

describe('program(only)', () => {
  it('makes just the commands of the module that makes the one asked for', async () => {
    expect((await program('rent')).commands.map((c) => c.name())).toEqual(['rent']);
    expect((await program('wait')).commands.map((c) => c.name())).toEqual(['logs', 'wait', 'topup', 'stop']);
    // an unknown name, `help` or none: every command (commander then says what is wrong)
    for (const only of ['rnet', 'help', undefined])
      expect((await program(only)).commands.length).toBe(root.commands.length);
  });

  it('names, without loading them, exactly the commands the modules make, in order', () => {
    expect(COMMAND_NAMES).toEqual(root.commands.map((c) => c.name()));
  });
});

describe('program()', () => {
  const all = walk(root);
  const leaves = all.filter((c) => c.cmd.commands.length === 0);

  it('has the documented commands', () => {
    expect(all.map((c) => c.path.join(' ')).sort()).toEqual(
      [
        'account',
        'app',
        'app ls',
        'app publish',
        'app show',
        'app validate',
        'container',
        'container drain',
        'container probe',
        'container start',
        'container status',
        'container unstake',
        'container withdraw',
        'containers',
        'containers ls',
        'cp',
        'dao',
        'dao execute',
        'dao ls',
        'dao propose',
        'dao ratify',
        'dao status',
        'dao vote',
        'devnet',
        'escrow',
        'escrow deposit',
        'escrow withdraw',
        'exec',
        'game',
        'game serve',
        'keys',
        'keys ls',
        'keys new',
        'lease',
        'lease token',
        'lease topup',
        'leases',
        'leases ls',
        'location',
        'location judge',
        'lock',
        'network',
        'network init',
        'network status',
        'node',
        'play',
        'ledger',
        'ledger check-proof',
        'ledger proof',
        'ledger verify',
        'logs',
        'offers',
        'rent',
        'reservations',
        'reservations cancel',
        'reservations ls',
        'reservations show',
        'reserve',
        'shell',
        'deploy',
        'deployments',
        'deployments close',
        'deployments ls',
        'deployments status',
        'status',
        'stop',
        'topup',
        'transfer',
        'vesting',
        'vesting claim',
        'vesting ls',
        'volume',
        'volume create',
        'volume delete',
        'volume inspect',
        'volume ls',
        'volume topup',
        'wait',
      ].sort(),
    );
    expect(root.name()).toBe('aethir');
    expect(root.description()).not.toBe('');
  });

  it.each(all.map((c) => [c.path.join(' '), c.cmd] as const))('"%s" has a description', (_p, cmd) => {
    expect(cmd.description().trim().length).toBeGreaterThan(5);
  });

  it.each(leaves.map((c) => [c.path.join(' '), c.path, c.cmd] as const))(
    '"%s --help" mentions every option with its description',
    async (_p, path, cmd) => {
      const out = await help(path);
      expect(out).toContain(`Usage: aethir ${path.join(' ')}`);
      expect(out).toContain(cmd.description().slice(0, 30));
      for (const o of cmd.options) {
        expect(out).toContain(o.long!);
        expect(out).toContain(o.description.slice(0, 20));
      }
      expect(out).toContain('--help');
    },
  );

  it('top-level --help lists every command', async () => {
    const out = await help([]);
    for (const c of root.commands) expect(out).toContain(c.name());
    expect(out).toContain('AETHIR_API');
  });

  it.each([
    'containers ls',
    'leases ls',
    'keys ls',
    'status',
    'account',
    'ledger verify',
    'rent',
    'deploy',
    'deployments ls',
    'deployments status',
  ])('"%s" accepts --json', (path) => {
    const opt = find(root, path).options.find((o) => o.long === '--json');
    expect(opt).toBeDefined();
    expect(opt!.isBoolean()).toBe(true);
  });

  it('commands that talk to a node accept --api', () => {
    for (const path of [
      'containers ls',
      'leases ls',
      'status',
      'account',
      'rent',
      'deploy',
      'deployments close',
    ])
      expect(
        find(root, path).options.some((o) => o.long === '--api'),
        path,
      ).toBe(true);
  });

  it('rent takes the documented options with their defaults', () => {
    const rent = find(root, 'rent');
    const longs = rent.options.map((o) => o.long);
    for (const flag of [
      '--gpus',
      '--gpu-model',
      '--region',
      '--max-price',
      '--max-duration',
      '--strategy',
      '--min-reputation',
      '--env',
    ])
      expect(longs).toContain(flag);
    const defaults = rent.opts();
    expect(defaults).toMatchObject({ gpus: 0, maxDuration: '1h', strategy: 'lowest-fee', key: 'developer' });
    expect(rent.options.find((o) => o.long === '--strategy')!.argChoices).toEqual([
      'lowest-fee',
      'best-experience',
      'balanced',
    ]);
  });

  it('devnet takes the documented options', () => {
    const longs = find(root, 'devnet').options.map((o) => o.long);
    for (const flag of [
      '--port',
      '--data',
      '--demo-containers',
      '--location',
      '--price',
      '--epoch',
      '--declare-gpus',
    ])
      expect(longs).toContain(flag);
  });

  it('node --checks and container status --address exist', () => {
    expect(find(root, 'node').options.map((o) => o.long)).toContain('--checks');
    expect(find(find(root, 'container'), 'status').options.map((o) => o.long)).toContain('--address');
  });
});

describe('main()', () => {
  let written: string;
  let restore: () => void;

  beforeEach(() => {
    written = '';
    const out = process.stdout.write.bind(process.stdout);
    const err = process.stderr.write.bind(process.stderr);
    const exitCode = process.exitCode;
    process.stdout.write = ((s: string) => ((written += s), true)) as typeof process.stdout.write;
    process.stderr.write = ((s: string) => ((written += s), true)) as typeof process.stderr.write;
    restore = () => {
      process.stdout.write = out;
      process.stderr.write = err;
      process.exitCode = exitCode;
    };
  });

  afterEach(() => restore());

  it('--version prints the version and exits 0', async () => {
    await main(['node', 'aethir', '--version']);
    expect(process.exitCode).toBe(0);
    expect(written).toContain('0.1.0');
  });

  it('--help exits 0', async () => {
    await main(['node', 'aethir', '--help']);
    expect(process.exitCode).toBe(0);
    expect(written).toContain('Usage: aethir');
  });

  it('an unknown command is a usage error (exit 2)', async () => {
    await main(['node', 'aethir', 'frobnicate']);
    expect(process.exitCode).toBe(2);
    expect(written).toContain("unknown command 'frobnicate'");
  });

  it('an invalid choice on a top-level command is a usage error (exit 2)', async () => {
    await main(['node', 'aethir', 'rent', '--strategy', 'cheapest', '--', 'true']);
    expect(process.exitCode).toBe(2);
    expect(written).toContain('cheapest');
  });

  it('an invalid option value is a usage error (exit 2) that names the option', async () => {
    await main(['node', 'aethir', 'rent', '--gpus', 'lots', '--', 'true']);
    expect(process.exitCode).toBe(2);
    expect(written).toContain('--gpus');
  });

  it('usage errors of nested commands exit 2 as well', async () => {
    await main(['node', 'aethir', 'containers', 'ls', '--bogus']);
    expect(process.exitCode).toBe(2);
    expect(written).toContain("unknown option '--bogus'");
  });

  it('rent without a command is a usage error (exit 2)', async () => {
    await main(['node', 'aethir', 'rent']);
    expect(process.exitCode).toBe(2);
  });
});
