import { AppManifest, AppName, AppVersion } from '../../app.js';
import { z } from 'zod';

/** Published apps: the first publisher of a name owns it; versions never change. */
export const payloads = {
  /** the first publisher of a name owns it; versions are immutable (see src/ledger/app.ts) */
  'app.publish': z
    .object({ name: AppName, version: AppVersion, manifest: AppManifest })
    .strict()
    .refine((p) => p.manifest.name === p.name && p.manifest.version === p.version, {
      message: 'the manifest must have the name and version of the payload',
      path: ['manifest'],
    }),
} as const;
