import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/core/index.js';
import { ensurePrivateDir, tightenPrivateFile } from '../../../src/core/private-files.js';
import { Devnet } from '../../../src/node/devnet.js';
import { Keystore } from '../../../src/node/keystore.js';
import { SqliteChainStore } from '../../../src/store/index.js';

const homes: string[] = [];
function tempHome(): string {
  const home = mkdtempSync(join(tmpdir(), 'aethir-modes-'));
  homes.push(home);
  return home;
}
afterEach(() => {
  for (const h of homes.splice(0)) rmSync(h, { recursive: true, force: true });
});

const mode = (path: string) => statSync(path).mode & 0o777;

describe('private files: keys, the ledger and data directories belong to their owner alone', () => {
  it('a keystore creates its directory 0700 and each key file 0600', () => {
    const dir = join(tempHome(), 'a', 'keys');
    new Keystore(dir, () => {}).create('alice');
    expect(mode(dir)).toBe(0o700);
    // The parents it had to create are private too.
    expect(mode(join(dir, '..'))).toBe(0o700);
    expect(mode(join(dir, 'alice.json'))).toBe(0o600);
  });

  it('a keystore tightens a key file and directory left open to others when it loads the key, and says so', () => {
    const dir = join(tempHome(), 'keys');
    const lines: string[] = [];
    const keys = new Keystore(dir, (l) => lines.push(l));
    const created = keys.create('bob');
    chmodSync(dir, 0o755);
    chmodSync(join(dir, 'bob.json'), 0o644);
    expect(keys.load('bob').address).toBe(created.address);
    expect(mode(dir)).toBe(0o700);
    expect(mode(join(dir, 'bob.json'))).toBe(0o600);
    expect(lines).toEqual([
      `tightened ${dir} from 0755 to 0700 (it was open to other users)`,
      `tightened ${join(dir, 'bob.json')} from 0644 to 0600 (it was open to other users)`,
    ]);
    // Already private: nothing to say the second time.
    keys.load('bob');
    expect(lines).toHaveLength(2);
  });

  it('the SQLite ledger, its -wal and -shm are 0600, and loose ones are tightened on open', () => {
    const dir = join(tempHome(), 'node');
    const path = join(dir, 'ledger.sqlite');
    // Its schema is written at open, so the -wal and -shm exist while it is open.
    const store = new SqliteChainStore(path);
    for (const f of [path, `${path}-wal`, `${path}-shm`]) {
      expect(existsSync(f)).toBe(true);
      expect(mode(f)).toBe(0o600);
    }
    expect(mode(dir)).toBe(0o700);
    store.close();

    for (const f of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(f)) chmodSync(f, 0o644);
    const lines: string[] = [];
    const again = new SqliteChainStore(path, { log: (l) => lines.push(l) });
    for (const f of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(f)) expect(mode(f)).toBe(0o600);
    expect(lines[0]).toBe(`tightened ${path} from 0644 to 0600 (it was open to other users)`);
    again.close();
  });

  it("tightening takes only group's and others' access away: a read-only 0444 copy becomes 0400", () => {
    const file = join(tempHome(), 'copy.sqlite');
    writeFileSync(file, '');
    chmodSync(file, 0o444);
    const lines: string[] = [];
    tightenPrivateFile(file, (l) => lines.push(l));
    expect(mode(file)).toBe(0o400);
    expect(lines).toEqual([`tightened ${file} from 0444 to 0400 (it was open to other users)`]);
  });

  it('tightening leaves group/other-free modes and missing paths alone', () => {
    const home = tempHome();
    const lines: string[] = [];
    chmodSync(home, 0o700);
    ensurePrivateDir(home, (l) => lines.push(l));
    tightenPrivateFile(join(home, 'absent'), (l) => lines.push(l));
    expect(lines).toEqual([]);
    expect(existsSync(join(home, 'absent'))).toBe(false);
  });

  it('a devnet keeps its data directory 0700, its keys and ledger 0600, and tightens them at start', async () => {
    const home = tempHome();
    const dataDir = join(home, 'devnet');
    const config = loadConfig({ env: { AETHIR_HOME: home }, flags: { port: 0, dataDir, demoContainers: 0 } });
    const first = await Devnet.start({ config, log: () => {} });
    await first.stop();
    const ledger = join(dataDir, 'ledger.sqlite');
    const faucet = join(dataDir, 'keys', 'faucet.json');
    const developer = join(home, 'keys', 'developer.json');
    expect(mode(dataDir)).toBe(0o700);
    expect(mode(join(dataDir, 'keys'))).toBe(0o700);
    expect(mode(join(home, 'keys'))).toBe(0o700);
    for (const f of [ledger, faucet, developer]) expect(mode(f)).toBe(0o600);

    // What an older version left: everything world-readable.
    for (const d of [dataDir, join(dataDir, 'keys')]) chmodSync(d, 0o755);
    for (const f of [ledger, faucet, developer]) chmodSync(f, 0o644);
    const lines: string[] = [];
    const second = await Devnet.start({ config, log: (l) => lines.push(l) });
    await second.stop();
    expect(mode(dataDir)).toBe(0o700);
    expect(mode(join(dataDir, 'keys'))).toBe(0o700);
    for (const f of [ledger, faucet, developer]) expect(mode(f)).toBe(0o600);
    const said = (p: string, from: string, to: string) =>
      `tightened ${p} from ${from} to ${to} (it was open to other users)`;
    for (const d of [dataDir, join(dataDir, 'keys')]) expect(lines).toContain(said(d, '0755', '0700'));
    for (const f of [ledger, faucet, developer]) expect(lines).toContain(said(f, '0644', '0600'));
  });
});
