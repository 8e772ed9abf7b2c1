import { removeTempHomesAfterAll } from './temp-homes.js';

/** Every e2e file (vitest.config.ts, projects `e2e` and `e2e-journeys`). */
removeTempHomesAfterAll();
