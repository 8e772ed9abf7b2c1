/**
 * Setup of the `e2e` project (files whose checkers and provers race deadlines): two of them never
 * run at the same time, whatever else runs beside them.
 */
import { afterAll, beforeAll } from 'vitest';
import { exclusive } from './exclusive.js';

let release: (() => void) | undefined;
beforeAll(async () => {
  release = await exclusive('deadlines');
}, 900_000);
afterAll(() => release?.());
