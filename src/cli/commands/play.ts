import { spawn } from 'node:child_process';
import { isIPv4 } from 'node:net';
import { Command } from 'commander';
import { DEFAULT_API } from '../../core/config.js';
import { AethirError } from '../../core/errors.js';
import { findCity } from '../../core/gazetteer.js';
import { action, apiOption, client, jsonOption, parseIntArg, printJson, type GlobalOpts } from '../common.js';

/** The console's Play page for a game, as a URL (what `aethir play` opens). */
export function playUrl(api: string, game: string, near?: string, maxLatency?: number): string {
  const q = new URLSearchParams();
  if (near) q.set('near', near);
  if (maxLatency) q.set('maxLatency', String(maxLatency));
  const s = q.toString();
  return `${api.replace(/\/+$/, '')}/#/play/${encodeURIComponent(game)}${s ? `?${s}` : ''}`;
}

export function playCommand(): Command {
  return new Command('play')
    .description(
      "play a published game in the browser: opens the console's Play page, which matches a host close enough (best-experience), rents a session and streams it",
    )
    .argument('<game>', 'the game app, e.g. arena (aethir app ls lists apps)')
    .option('--near <city>', 'where you are, e.g. "Paris, FR" (hosts are matched by estimated RTT from here)')
    .option(
      '--max-latency <ms>',
      'the highest estimated round trip accepted (default 40)',
      parseIntArg('--max-latency', 1, 10_000),
    )
    .option('--no-open', 'print the URL only, do not open a browser')
    .addOption(apiOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      [
        '',
        'Example:',
        '  npx aethir play arena --near "Paris, FR" --max-latency 40',
        '',
        'The page signs with the key in your browser (My account); closing the tab ends the session,',
        'and the lease is charged for the seconds played.',
      ].join('\n'),
    )
    .action(
      action(async (game: string, opts: Record<string, any> & GlobalOpts) => {
        const api = opts.api ?? process.env.AETHIR_API ?? DEFAULT_API;
        if (!/^[a-z0-9][a-z0-9-]{1,40}$/.test(game))
          throw new AethirError(
            'INVALID_ARGUMENT',
            `"${game}" is not an app name (aethir app ls lists them)`,
          );
        if (opts.near) findCity(opts.near); // an unknown place is an error here, not on the page
        const apps = await client(opts).apps();
        if (!apps.some((a) => a.name === game))
          throw new AethirError('NOT_FOUND', `no app "${game}" is published (aethir app ls lists them)`);
        const url = playUrl(api, game, opts.near, opts.maxLatency ?? 40);
        if (opts.json) return printJson({ url });
        process.stdout.write(`${url}\n`);
        if (opts.open && process.stdout.isTTY) {
          const opener = process.platform === 'darwin' ? 'open' : 'xdg-open';
          const child = spawn(opener, [url], { stdio: 'ignore', detached: true });
          child.on('error', () => process.stderr.write(`(could not run ${opener}: open the URL yourself)\n`));
          child.unref();
        }
      }),
    );
}

/** `aethir game serve`: the arena app's session process (its manifest's `run`). */
export function gameCommand(): Command {
  const game = new Command('game').description(
    'game sessions: the host side of a streamed game (docs/gaming.md)',
  );
  game
    .command('serve')
    .description(
      "run a game session on this host: renders the game, streams it over WebRTC to the lease's user (the arena app's run command)",
    )
    .argument('[game]', 'the game (only arena for now)', 'arena')
    .option(
      '--port <n>',
      'signalling port (default $AETHIR_PORT, the port the endpoint proxy routes to)',
      parseIntArg('--port', 1, 65535),
    )
    .option('--seed <s>', 'the game seed: the same seed and inputs give the same frames', 'arena')
    .option('--threads <n>', 'encoder threads', parseIntArg('--threads', 1, 16), 1)
    .option(
      '--idle-exit <s>',
      'end when no player has been connected this long',
      parseIntArg('--idle-exit', 1, 86_400),
      120,
    )
    .action(
      action(async (name: string, opts: Record<string, any>) => {
        if (name !== 'arena') throw new AethirError('INVALID_ARGUMENT', `no game "${name}" (only arena)`);
        const port = opts.port ?? Number(process.env.AETHIR_PORT);
        if (!Number.isInteger(port) || port < 1 || port > 65535)
          throw new AethirError('INVALID_ARGUMENT', 'give --port, or run as a session with $AETHIR_PORT set');
        // loaded here: the canvas and WebRTC stacks are heavy, and only a game host needs them
        const { GameHost } = await import('../../gaming/host.js');
        const log = (s: string) => process.stdout.write(`${s}\n`);
        let done!: (reason: string) => void;
        const ended = new Promise<string>((r) => (done = r));
        const udp = process.env.AETHIR_UDP_PORT ? Number(process.env.AETHIR_UDP_PORT) : undefined;
        if (udp !== undefined && !(Number.isInteger(udp) && udp >= 1 && udp <= 65535))
          throw new AethirError('INVALID_ARGUMENT', '$AETHIR_UDP_PORT must be a port number');
        // where the player reaches that port (the host's public address): the one ICE candidate
        const udpHost = process.env.AETHIR_UDP_HOST || undefined;
        if (udpHost !== undefined && !isIPv4(udpHost))
          throw new AethirError('INVALID_ARGUMENT', '$AETHIR_UDP_HOST must be an IPv4 address');
        const host = new GameHost({
          port,
          ...(udp !== undefined ? { icePort: udp, ...(udpHost ? { iceHosts: [udpHost] } : {}) } : {}),
          seed: opts.seed,
          threads: opts.threads,
          idleExitMs: opts.idleExit * 1000,
          log,
          onEnd: done,
        });
        await host.start();
        log(`arena: serving on port ${port}; waiting for the player`);
        process.once('SIGTERM', () => done('stopped'));
        process.once('SIGINT', () => done('stopped'));
        const reason = await ended;
        await host.stop();
        log(`arena: session over (${reason})`);
        process.exit(0);
      }),
    );
  return game;
}
