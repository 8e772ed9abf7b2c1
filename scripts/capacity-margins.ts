/**
 * Prints the class-pair margins of Proof of Capacity as the markdown table of docs/verification.md
 * ("Class margins", then "Parts that share a class"): `npx tsx scripts/capacity-margins.ts`
 * (`--json` for the class pairs' figures).
 */
import { marginsTable, allPairMargins, partsTable } from '../src/capacity/margins-table.js';

if (process.argv.includes('--json')) console.log(JSON.stringify(allPairMargins(), null, 2));
else console.log(`${marginsTable()}\n\n${partsTable()}`);
