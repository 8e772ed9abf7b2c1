import { AethirError } from '../../../core/errors.js';
import type { AppRecord, AppRelease } from '../../app.js';
import type { Handlers, TxContext, TxResult } from '../../context.js';
import { K } from '../../model.js';
import type { DecodedTx } from '../../tx.js';
import type { payloads } from './payloads.js';

function publishApp(ctx: TxContext, tx: DecodedTx<'app.publish'>): TxResult {
  const p = tx.payload;
  const me = tx.tx.from;
  const prev = ctx.app(p.name);
  if (prev && prev.owner !== me)
    throw new AethirError(
      'UNAUTHORIZED',
      `app ${p.name} belongs to ${prev.owner}: only its owner publishes new versions`,
    );
  if (prev?.versions.includes(p.version))
    throw new AethirError(
      'CONFLICT',
      `${p.name} ${p.version} is already published and versions never change: publish a new version`,
    );
  ctx.state.set(K.appRelease(p.name, p.version), {
    name: p.name,
    version: p.version,
    manifest: p.manifest,
    publishedAt: ctx.time,
  } satisfies AppRelease);
  const record: AppRecord = {
    name: p.name,
    owner: prev?.owner ?? me,
    latest: p.version,
    versions: [...(prev?.versions ?? []), p.version],
    createdAt: prev?.createdAt ?? ctx.time,
    updatedAt: ctx.time,
  };
  ctx.state.set(K.app(p.name), record);
  ctx.emit({ type: 'AppPublished', name: p.name, version: p.version, owner: record.owner });
  return { app: p.name, version: p.version, owner: record.owner, versions: record.versions.length };
}

export const handlers: Handlers<keyof typeof payloads> = {
  'app.publish': publishApp,
};
