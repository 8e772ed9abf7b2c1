import { z } from 'zod';
import { toJsonSafe } from '../../core/canonical.js';
import { AethirError } from '../../core/errors.js';
import { AppName, AppVersion, appGpus, publishedApp } from '../../ledger/app.js';
import { router, type ApiPlugin } from './common.js';

/** Published apps and their manifests. */
export const appRoutes: ApiPlugin = async (app, ctx) => {
  const { node } = ctx;
  const ledger = () => node.ledger;
  const route = router(app, ctx);
  route({
    method: 'GET',
    url: '/v1/apps',
    tag: 'apps',
    summary: 'Published apps: owner, latest version, GPUs a session needs, every version',
    handler: () => {
      const l = ledger();
      return toJsonSafe({
        apps: l.apps().map((a) => {
          const m = l.appRelease(a.name)!.manifest;
          return { ...a, description: m.description, gpus: appGpus(m) };
        }),
      });
    },
  });
  route({
    method: 'GET',
    url: '/v1/apps/:name',
    tag: 'apps',
    summary: "One app: a version's manifest (default: the latest), the app's owner and its versions",
    params: z.object({ name: AppName }),
    query: z.object({ version: AppVersion.optional() }).strict(),
    handler: ({ params, query }) => {
      const l = ledger();
      const app = l.app(params.name);
      if (!app) throw new AethirError('NOT_FOUND', `no app "${params.name}" is published`);
      const release = l.appRelease(params.name, query.version);
      if (!release)
        throw new AethirError(
          'NOT_FOUND',
          `app ${params.name} has no version ${query.version}; published: ${app.versions.join(', ')}`,
        );
      return toJsonSafe(publishedApp(app, release));
    },
  });
};
