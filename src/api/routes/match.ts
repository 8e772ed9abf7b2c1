import { z } from 'zod';
import { isAddress, resolvePlace, toJsonSafe } from '../../core/index.js';
import { containerOut, router, type ApiPlugin } from './common.js';

const MatchBody = z
  .object({
    user: z.string().refine(isAddress, 'must be an address (ath1 + 40 hex)'),
    gpus: z.number().int().min(0).max(64).default(0),
    gpuModel: z.string().min(1).max(80).optional(),
    region: z
      .string()
      .regex(/^[a-z]{2,12}(-[a-z]{2,12})?$/, 'must be a region such as eu or eu-west')
      .optional(),
    maxPricePerHour: z
      .string()
      .regex(/^\d{1,40}$/, 'must be units as a decimal string')
      .optional(),
    strategy: z.enum(['lowest-fee', 'best-experience', 'balanced']).default('lowest-fee'),
    gpuModels: z.array(z.string().min(1).max(80)).min(1).max(16).optional(),
    minGpuClass: z.enum(['other', 'rtx3090', 'rtx4090', 'l40s', 'a100', 'h100', 'h200']).optional(),
    minVramMiB: z.number().int().min(0).max(10_000_000).optional(),
    minComputeCapability: z
      .union([z.number().min(0).max(25), z.string().regex(/^\d{1,2}\.\d$/, 'must be like 8.6')])
      .optional(),
    app: z.string().min(1).max(120).optional(),
    /** where the user is: coordinates, or a place ("Montréal, CA", "Portland, OR, US", "45.5,-73.6") */
    location: z
      .union([
        z.object({ lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180) }).strict(),
        z.string().min(1).max(200),
      ])
      .optional(),
    maxLatencyMs: z.number().positive().max(10_000).optional(),
    minReputation: z.number().min(0).max(1).optional(),
    isolation: z.enum(['sandbox', 'any']).optional(),
  })
  .strict();
/** A place named in a request, as coordinates; an unknown or ambiguous name is INVALID_ARGUMENT. */
function placePoint(text: string): { lat: number; lon: number } {
  const p = resolvePlace(text);
  return { lat: p.lat, lon: p.lon };
}

/** Matching: the indexer finds and reserves a container. */
export const matchRoutes: ApiPlugin = async (app, ctx) => {
  const { node } = ctx;
  const route = router(app, ctx);
  route({
    method: 'POST',
    url: '/v1/match',
    tag: 'indexer',
    summary: 'Find the best container for a request and reserve it for a short time',
    body: MatchBody,
    handler: async ({ body }) => {
      const m = await node.match({
        user: body.user,
        gpus: body.gpus,
        gpuModel: body.gpuModel,
        region: body.region,
        maxPricePerHour: body.maxPricePerHour === undefined ? undefined : BigInt(body.maxPricePerHour),
        strategy: body.strategy,
        gpuModels: body.gpuModels,
        minGpuClass: body.minGpuClass,
        minVramMiB: body.minVramMiB,
        minComputeCapability: body.minComputeCapability,
        app: body.app,
        location: typeof body.location === 'string' ? placePoint(body.location) : body.location,
        maxLatencyMs: body.maxLatencyMs,
        minReputation: body.minReputation,
        isolation: body.isolation,
      });
      return toJsonSafe({
        container: containerOut(node, m.container),
        reservation: m.reservation,
        score: m.score,
        candidates: m.candidates,
      });
    },
  });
};
