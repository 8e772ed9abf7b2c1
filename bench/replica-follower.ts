/**
 * A second process for the scale-out bench: a replica of the JetStream log (SQLite state) that
 * says "ready" once it follows the log and "height N" each time it has applied up to a height
 * the parent asked for (one line per request read from stdin).
 *
 *   node --import tsx bench/replica-follower.ts <nats url> <chainId> <data dir>
 */
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { systemClock } from '../src/core/index.js';
import { Replica } from '../src/node/index.js';
import { JetStreamLog, SqliteChainStore, asyncChainStore } from '../src/store/index.js';

const [servers, chainId, dir] = process.argv.slice(2);
if (!servers || !chainId || !dir) {
  process.stderr.write('usage: replica-follower <nats url> <chainId> <data dir>\n');
  process.exit(2);
}
const log = await JetStreamLog.connect({ servers, chainId, create: false });
const store = asyncChainStore(
  new SqliteChainStore(join(dir, 'replica.sqlite'), { synchronous: 'NORMAL' }),
  'sqlite',
);
const replica = await Replica.open(store, log, { name: `bench-follower-${process.pid}`, clock: systemClock });
await replica.start();
process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  const target = Number(line.trim());
  if (!Number.isInteger(target)) continue;
  await replica.waitForHeight(target, 600_000);
  process.stdout.write(`height ${replica.head.height} ${replica.head.root}\n`);
}
await replica.stop();
await log.close();
await store.close();
