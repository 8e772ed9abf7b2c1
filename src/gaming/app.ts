import { fileURLToPath } from 'node:url';
import { parseManifest } from '../container/apps/manifest.js';
import type { AppManifest } from '../ledger/app.js';

/** The aethir CLI of this checkout (or installed package): what runs a game session's host. */
const AETHIR_BIN = fileURLToPath(new URL('../../bin/aethir.js', import.meta.url));

/**
 * The arena game's app manifest (docs/gaming.md): no install step (the host is part of the aethir
 * CLI the container already runs), a session runs `aethir game serve arena` on $AETHIR_PORT. The
 * devnet publishes it with this machine's node and CLI paths.
 */
export function arenaManifest(node = process.execPath, bin = AETHIR_BIN): AppManifest {
  return parseManifest({
    name: 'arena',
    version: '1.0.0',
    description:
      'Arena: a 2D game rendered on the host and streamed to the browser over WebRTC (VP8); aethir play arena',
    run: [node, bin, 'game', 'serve', 'arena'],
  });
}
