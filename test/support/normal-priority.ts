import { afterAll } from 'vitest';
import { exclusive } from './exclusive.js';
import { setWorkerPriority } from './priority.js';

/**
 * The deadline racers (vitest.config.ts, project `e2e`): at the normal priority, beside the niced
 * unit files, and one at a time: each holds the test lock `racers` for its whole run.
 */
setWorkerPriority(0);
afterAll(await exclusive('racers'));
