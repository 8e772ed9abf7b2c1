import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript (bin/ runs without a build)
import { sourceStamp } from '../../../bin/source-stamp.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const stampOf = sourceStamp as (dir: string) => string;

/**
 * bin/aethir.js runs dist/ only while scripts/build-cli.mjs's stamp matches the sources: a checkout
 * whose compiled tree is stale runs its TypeScript, never old code.
 */
describe('bin/aethir.js: the compiled tree or the sources', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  /** a checkout with a CLI that says where it ran from, compiled by the real build script */
  function checkout(): string {
    const dir = mkdtempSync(join(tmpdir(), 'aethir-bin-'));
    dirs.push(dir);
    cpSync(join(ROOT, 'bin'), join(dir, 'bin'), { recursive: true });
    cpSync(join(ROOT, 'scripts/build-cli.mjs'), join(dir, 'scripts/build-cli.mjs'));
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    mkdirSync(join(dir, 'src/cli'), { recursive: true });
    writeFileSync(join(dir, 'src/cli/where.ts'), "export const where: string = 'v1';\n");
    writeFileSync(
      join(dir, 'src/cli/main.ts'),
      "import { where } from './where.js';\nexport function main(): void {\n  console.log(`${where} ${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`);\n}\n",
    );
    return dir;
  }
  const run = (dir: string, env: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, [join(dir, 'bin/aethir.js')], {
      encoding: 'utf8',
      env: { ...process.env, AETHIR_FROM_SOURCE: '', ...env },
    });
    expect(r.stderr).toBe('');
    return r.stdout.trim();
  };
  const build = (dir: string) => {
    const r = spawnSync(process.execPath, [join(dir, 'scripts/build-cli.mjs')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    return r.stdout;
  };

  it('no build: the sources; built: dist/; AETHIR_FROM_SOURCE=1: the sources', () => {
    const dir = checkout();
    expect(run(dir)).toBe('v1 ts');
    expect(build(dir)).toMatch(/2 files of src\/ in dist\/ \(2 written\)/);
    expect(run(dir)).toBe('v1 js');
    expect(run(dir, { AETHIR_FROM_SOURCE: '1' })).toBe('v1 ts');
    // built again with nothing changed: nothing written
    expect(build(dir)).toMatch(/\(0 written\)/);
  });

  it('an edit, a touch, a new file or a removed one after the build: the sources, until built again', () => {
    const dir = checkout();
    build(dir);
    writeFileSync(join(dir, 'src/cli/where.ts'), "export const where: string = 'v2';\n");
    expect(run(dir)).toBe('v2 ts'); // never the compiled v1
    build(dir);
    expect(run(dir)).toBe('v2 js');
    const later = new Date(Date.now() + 5000);
    utimesSync(join(dir, 'src/cli/where.ts'), later, later); // same bytes, same size, a new time
    expect(run(dir)).toBe('v2 ts');
    build(dir);
    writeFileSync(join(dir, 'src/cli/extra.ts'), 'export {};\n');
    expect(run(dir)).toBe('v2 ts');
    build(dir);
    expect(run(dir)).toBe('v2 js');
    rmSync(join(dir, 'src/cli/extra.ts'));
    expect(run(dir)).toBe('v2 ts');
  });

  it('a forged or missing stamp is not current', () => {
    const dir = checkout();
    build(dir);
    writeFileSync(join(dir, 'dist/.source-stamp'), `${'0'.repeat(64)}\n`);
    expect(run(dir)).toBe('v1 ts');
    rmSync(join(dir, 'dist/.source-stamp'));
    expect(run(dir)).toBe('v1 ts');
    expect(stampOf(join(dir, 'src'))).toMatch(/^[0-9a-f]{64}$/);
  });
});
