/**
 * The SDK's lease verbs, one after the other, against a running network:
 *
 *   npm start                                   # a devnet, in another terminal
 *   npx tsx examples/sdk-lease-life.ts          # AETHIR_API / AETHIR_HOME as for the CLI
 *
 * offers → detach (rent --detach) → leases (leases ls --mine) → logs (-f) → wait → a second
 * detached lease → stop. Each step prints one line; the exit code is 0 when all of them worked.
 */
import { join } from 'node:path';
import { DEFAULT_API, defaultHome, formatAth } from '../src/core/index.js';
import { parseQuery } from '../src/indexer/index.js';
import { Keystore } from '../src/node/keystore.js';
import { ApiClient, Renter } from '../src/sdk/index.js';

const api = new ApiClient(process.env.AETHIR_API ?? DEFAULT_API);
const key = new Keystore(join(defaultHome(), 'keys')).load('developer');
const renter = new Renter(api, key);

// offers: what `price<=10 sandbox=false` could rent now, cheapest first (reserves nothing)
const query = 'price<=10 sandbox=false';
const { offers, total } = await api.offers(query, { strategy: 'lowest-fee', limit: 3 });
console.log(
  `offers: ${total} match; first ${offers[0]!.container.name} at ${formatAth(BigInt(offers[0]!.container.pricePerHour), 6)} ATH/h`,
);

// rent --detach: open a lease for the same query, pay it ahead, return while it runs
const request = { ...parseQuery(query), strategy: 'lowest-fee' as const };
const maxPrice = request.maxPricePerHour;
const lease = await renter.detach({
  request: { ...request, maxPricePerHour: maxPrice?.toString() },
  maxDurationSec: 600,
  workload: () => ({ command: ['sh', '-c', 'echo hello from the lease; sleep 1; exit 3'] }),
});
console.log(
  `detach: lease ${lease.lease} on ${lease.match.container.name}, ${formatAth(lease.escrow, 6)} ATH in escrow`,
);

// leases ls --mine
const mine = await renter.leases({ status: 'open' });
console.log(`leases: ${mine.some((l) => l.id === lease.lease) ? 'it is among my open leases' : 'missing!'}`);

// logs -f: its output, live, until it exits
for await (const e of renter.logs(lease.lease, { follow: true }))
  if (e.type === 'stdout') console.log(`logs: ${e.data.trim()}`);

// wait: until it ended and settled; the exit code is the workload's
const done = await renter.wait(lease.lease);
console.log(`wait: exit code ${done.exitCode}, charged ${formatAth(BigInt(done.lease.charged), 18)} ATH`);

// stop: a long-running one, closed now; the unused escrow comes back
const service = await renter.detach({
  request: { ...request, maxPricePerHour: maxPrice?.toString() },
  maxDurationSec: 3600,
  workload: () => ({ command: ['sleep', '3600'] }),
});
const stopped = await renter.stop(service.lease);
console.log(
  `stop: charged ${formatAth(stopped.charged, 18)} ATH, refunded ${formatAth(stopped.refund, 18)} ATH`,
);
process.exitCode = done.exitCode === 3 && stopped.refund > 0n ? 0 : 1;
