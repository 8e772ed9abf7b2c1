import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { AethirError } from '../../core/errors.js';
import type { FastifyPluginAsync } from 'fastify';

// The console (web/src), built by scripts/build-web.mjs (npm install's prepare); built here if missing.
const WEB_DIR = fileURLToPath(new URL('../../../web/dist/', import.meta.url));
let webBuild: Promise<unknown> | null = null;
const buildWeb = () =>
  (webBuild ??= import(new URL('../../../scripts/build-web.mjs', import.meta.url).href).then((m) =>
    m.buildWeb(),
  ));

/** The web console: its page, script and style, and its code-split parts (not in /openapi.json). */
export const consoleRoutes: FastifyPluginAsync = async (app) => {
  const staticFiles: Record<string, string> = {
    '/': 'index.html',
    '/app.js': 'app.js',
    '/app.css': 'app.css',
  };
  const types: Record<string, string> = {
    html: 'text/html; charset=utf-8',
    js: 'text/javascript; charset=utf-8',
    css: 'text/css; charset=utf-8',
  };
  for (const [url, file] of Object.entries(staticFiles)) {
    app.get(url, async (_req, reply) => {
      const body = await readFile(WEB_DIR + file).catch(
        async () => (await buildWeb(), readFile(WEB_DIR + file)),
      );
      return reply.type(types[file.split('.').pop()!]!).send(body);
    });
  }
  // the console's code-split parts (built names only: nothing else under web/dist is reachable)
  app.get('/chunks/:name', async (req, reply) => {
    const { name } = req.params as { name: string };
    const body =
      /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}\.js$/.test(name) && !name.includes('..')
        ? await readFile(`${WEB_DIR}chunks/${name}`).catch(() => null)
        : null;
    if (!body) throw new AethirError('NOT_FOUND', `no file ${req.url}`);
    return reply.type(types.js!).send(body);
  });
};
