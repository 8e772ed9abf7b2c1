import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * vitest's global setup: compile src/ to dist/ once per run (scripts/build-cli.mjs), so the CLI
 * processes the tests start through bin/aethir.js load JavaScript, not TypeScript through tsx
 * (about half the CPU of each start). They run the sources as they are now: bin/aethir.js takes
 * dist/ only while its stamp matches them.
 */
export default function setup(): void {
  execFileSync(
    process.execPath,
    [fileURLToPath(new URL('../../scripts/build-cli.mjs', import.meta.url)), '--quiet'],
    {
      stdio: 'inherit',
    },
  );
}
