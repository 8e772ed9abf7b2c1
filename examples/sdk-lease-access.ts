/**
 * Into a running lease with the SDK, against a running network with a sandboxed host:
 *
 *   npm start                                   # a devnet, in another terminal
 *   npx tsx examples/sdk-lease-access.ts        # AETHIR_API / AETHIR_HOME as for the CLI
 *   AETHIR_EXAMPLE_QUERY='region=eu' npx tsx examples/sdk-lease-access.ts
 *
 * A detached lease whose workload serves HTTP on its own port 8000 (rent --detach --port 8000)
 * → its endpoint → exec (aethir exec) → a terminal (aethir shell) → cp up and back (aethir cp)
 * → stop. Each step prints one line; the exit code is 0 when all of them worked.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_API, defaultHome, signLeaseToken } from '../src/core/index.js';
import { parseQuery } from '../src/indexer/index.js';
import { Keystore } from '../src/node/keystore.js';
import { ApiClient, Renter, downloadFromLease, execInLease, uploadToLease } from '../src/sdk/index.js';

const api = new ApiClient(process.env.AETHIR_API ?? DEFAULT_API);
const key = new Keystore(join(defaultHome(), 'keys')).load('developer');
const renter = new Renter(api, key);
const chainId = await renter.chainId();
let ok = true;

// rent --detach --port 8000: the lease's endpoint forwards to port 8000 inside its sandbox
const query = parseQuery(process.env.AETHIR_EXAMPLE_QUERY ?? 'sandbox=true');
const lease = await renter.detach({
  request: { ...query, maxPricePerHour: query.maxPricePerHour?.toString(), isolation: 'sandbox' },
  maxDurationSec: 600,
  workload: () => ({
    command: ['node', '-e', "require('http').createServer((q, s) => s.end('served on 8000')).listen(8000)"],
    port: 8000,
  }),
});
const id = lease.lease;
console.log(`detach: lease ${id} on ${lease.match.container.name}`);

// the endpoint (with this key's token: the endpoint is the lease owner's unless public)
let page = '';
for (let i = 0; i < 100 && page !== 'served on 8000'; i++) {
  page = await fetch(lease.endpoint!).then(
    (r) => (r.ok ? r.text() : ''),
    () => '',
  );
  if (page !== 'served on 8000') await new Promise((r) => setTimeout(r, 200));
}
ok &&= page === 'served on 8000';
console.log(`endpoint: ${page || 'no answer!'}`);

// exec: a command inside the lease (its sandbox, its uid); the exit code is the command's
const target = (scope: 'exec' | 'files') => ({
  api: api.base,
  lease: id,
  token: signLeaseToken(key, { chainId, lease: id, exp: Date.now() + 600_000, scope: [scope] }),
});
let out = '';
const cmd = await execInLease(target('exec'), {
  command: ['sh', '-c', 'echo "uid $(id -u)"; exit 4'],
  onStdout: (d) => (out += d),
});
cmd.end();
const { exitCode } = await cmd.exited;
ok &&= exitCode === 4;
console.log(`exec: ${out.trim()}, exit code ${exitCode}`);

// a terminal, as `aethir shell` opens one: its size, then a resize, then exit
let screen = '';
const tty = await execInLease(target('exec'), {
  command: ['sh'],
  tty: { cols: 100, rows: 30 },
  onStdout: (d) => (screen += d),
});
/** waits until the terminal shows `re` (at most 10 s) */
const until = async (re: RegExp) => {
  for (let i = 0; i < 100 && !re.test(screen); i++) await new Promise((r) => setTimeout(r, 100));
};
await until(/\$ $/);
tty.write('stty size\r');
await until(/30 100/);
tty.resize(120, 40);
tty.write('stty size; exit 5\r');
const shell = await tty.exited;
const sizes = [...screen.matchAll(/(\d+ \d+)\r?\n/g)].map((m) => m[1]); // what stty printed
ok &&= shell.exitCode === 5 && sizes.includes('30 100') && sizes.includes('40 120');
console.log(`shell: sizes ${sizes.join(', ')}, exit code ${shell.exitCode}`);

// cp: a folder into the lease and back, byte for byte
const dir = mkdtempSync(join(tmpdir(), 'aethir-example-'));
writeFileSync(join(dir, 'a.txt'), 'hello\n');
writeFileSync(join(dir, 'b.bin'), Buffer.from([0, 1, 2, 255]));
const up = await uploadToLease(target('files'), { localPath: dir, remotePath: 'data' });
const down = await downloadFromLease(target('files'), { remotePath: 'data', localPath: join(dir, 'back') });
const same = ['a.txt', 'b.bin'].every((f) =>
  readFileSync(join(dir, f)).equals(readFileSync(join(dir, 'back', f))),
);
rmSync(dir, { recursive: true, force: true });
ok &&= same && up.files === 2 && down.files === 2;
console.log(`cp: ${up.files} files up, ${down.files} back, ${same ? 'identical' : 'DIFFERENT'}`);

// stop: closed now, the unused escrow comes back
const stopped = await renter.stop(id);
ok &&= stopped.refund > 0n;
console.log(`stop: refunded ${stopped.refund > 0n ? 'the unused escrow' : 'nothing!'}`);
process.exitCode = ok ? 0 : 1;
