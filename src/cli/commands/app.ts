import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { AethirError } from '../../core/errors.js';
import { parseManifest } from '../../container/apps/manifest.js';
import { APP_NAME_RE, APP_VERSION_RE, appGpus, mainService, type AppManifest } from '../../ledger/app.js';
import { TxSender } from '../../sdk/tx-sender.js';
import { action, apiOption, client, jsonOption, printJson, short, table, userKeystore } from '../common.js';

/** "name" or "name@version", as `app show` and `rent --app` take it. */
export function parseAppRef(ref: string, what = 'app'): { name: string; version?: string } {
  const at = ref.indexOf('@');
  const name = at < 0 ? ref : ref.slice(0, at);
  const version = at < 0 ? undefined : ref.slice(at + 1);
  if (!APP_NAME_RE.test(name))
    throw new AethirError(
      'INVALID_ARGUMENT',
      `${what}: "${name}" is not an app name (lower-case letters, digits and -, 2 to 41 characters)`,
    );
  if (version !== undefined && !APP_VERSION_RE.test(version))
    throw new AethirError('INVALID_ARGUMENT', `${what}: "${version}" is not a version such as 1.0.0`);
  return version === undefined ? { name } : { name, version };
}

function readManifest(file: string): AppManifest {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new AethirError('INVALID_ARGUMENT', `cannot read ${file}: ${(e as Error).message}`);
  }
  return parseManifest(text);
}

/** A manifest in a few lines, for people. */
function describeManifest(m: AppManifest): string[] {
  const { name: svc, service } = mainService(m);
  const cmd = service.command;
  const shown = cmd.length === 3 && cmd[0] === 'sh' && cmd[1] === '-c' ? cmd[2]! : JSON.stringify(cmd);
  return [
    ...(m.description ? [`  description  ${m.description}`] : []),
    `  service      ${svc}`,
    `  gpus         ${appGpus(m)}`,
    `  regions      ${m.regions?.join(', ') ?? 'anywhere'}`,
    `  install      ${service.install?.length ? '' : 'nothing'}`,
    ...(service.install ?? []).map((s, i) => `    ${i + 1}. ${s}`),
    `  command      ${shown}`,
    ...(service.env && Object.keys(service.env).length
      ? [`  env          ${Object.keys(service.env).join(', ')}`]
      : []),
    ...(service.ports?.length ? [`  ports        ${service.ports.join(', ')}`] : []),
  ];
}

export function appCommand(): Command {
  const cmd = new Command('app').description(
    'publish app manifests, list and show them (containers pre-install apps; `rent --app` starts a session)',
  );

  cmd
    .command('publish')
    .description('publish an app (or a new version of yours) from a JSON manifest; see docs/apps.md')
    .argument('<manifest>', 'the manifest file (JSON; - reads standard input)')
    .option('--key <name>', 'the publishing key: the first publisher of a name owns it', 'developer')
    .addOption(apiOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      '\nExample manifest (short form):\n  { "name": "hello", "version": "1.0.0", "install": "echo hi > greeting.txt",\n    "run": "cat $AETHIR_APP_DIR/greeting.txt" }\n',
    )
    .action(
      action(async (file: string, opts: Record<string, any>) => {
        const manifest = readManifest(file);
        const key = userKeystore().load(opts.key);
        const r = await new TxSender(key, client(opts)).send('app.publish', {
          name: manifest.name,
          version: manifest.version,
          manifest,
        });
        if (opts.json)
          return printJson({
            app: manifest.name,
            version: manifest.version,
            owner: r.result.owner,
            versions: r.result.versions,
            tx: r.id,
            height: r.height,
            manifest,
          });
        process.stdout.write(
          `published ${manifest.name} ${manifest.version} (tx ${r.id.slice(0, 16)}…, block ${r.height}); ` +
            `containers started with --apps ${manifest.name} install it, then: aethir rent --app ${manifest.name}\n`,
        );
      }),
    );

  cmd
    .command('validate')
    .description('check a manifest without publishing it: prints its canonical form or what is wrong')
    .argument('<manifest>', 'the manifest file (JSON; - reads standard input)')
    .addOption(jsonOption())
    .action(
      action(async (file: string, opts: Record<string, any>) => {
        const manifest = readManifest(file);
        if (opts.json) return printJson({ valid: true, manifest });
        process.stdout.write(
          [`${manifest.name} ${manifest.version}: valid`, ...describeManifest(manifest), ''].join('\n'),
        );
      }),
    );

  cmd
    .command('ls')
    .description('published apps')
    .addOption(apiOption())
    .addOption(jsonOption())
    .action(
      action(async (opts: Record<string, any>) => {
        const apps = await client(opts).apps();
        if (opts.json) return printJson({ apps });
        process.stdout.write(
          table(
            apps.map((a) => ({
              app: a.name,
              latest: a.latest,
              versions: a.versions.length,
              gpus: a.gpus,
              owner: short(a.owner),
              description: (a.description ?? '').slice(0, 50),
            })),
            'no apps published yet (aethir app publish <manifest.json>)',
          ),
        );
      }),
    );

  cmd
    .command('show')
    .description("one app: a version's manifest (default: the latest), its owner and versions")
    .argument('<app>', 'the app: name, or name@version (default: the latest version)')
    .addOption(apiOption())
    .addOption(jsonOption())
    .action(
      action(async (ref: string, opts: Record<string, any>) => {
        const { name, version } = parseAppRef(ref);
        const api = client(opts);
        const app = await api.app(name, version);
        if (!app) {
          const any = version ? await api.app(name) : undefined;
          throw new AethirError(
            'NOT_FOUND',
            any
              ? `app ${name} has no version ${version}; published: ${any.versions.join(', ')}`
              : `no app "${name}" is published (aethir app ls lists them)`,
          );
        }
        if (opts.json) return printJson(app);
        process.stdout.write(
          [
            `${app.name} ${app.version}${app.version === app.latest ? ' (latest)' : ` (latest: ${app.latest})`}`,
            `  owner        ${app.owner}`,
            `  published    ${new Date(app.publishedAt).toISOString()}`,
            `  versions     ${app.versions.join(', ')}`,
            ...describeManifest(app.manifest),
            '',
          ].join('\n'),
        );
      }),
    );
  return cmd;
}
