import { appAllowedIn } from '../../ledger/app.js';
import type { Workload } from '../../ledger/modules/leases/payloads.js';
import type { NetworkClient } from '../../sdk/network.js';
import { AppInstaller, type InstalledApp } from './installer.js';

export interface LocalAppsOptions {
  /** the apps this container pre-installs, by name */
  wanted: readonly string[];
  /** where they are installed: `<baseDir>/<name>/<version>` */
  baseDir: string;
  network: NetworkClient;
  /** this container's region: an app published for other regions is not installed */
  region: string;
  log?: (line: string) => void;
  /** the longest one install may run (default 30 minutes) */
  installTimeoutMs?: number;
  /** called when the set of ready apps changes (the agent heartbeats at once) */
  onChange?: () => void;
}

/** How a session of a ready app runs, or why it cannot run here. */
export type Resolved =
  | {
      ok: true;
      command: string[];
      env: Record<string, string>;
      /** what the session reads of the host: the installed app */
      readOnlyPaths: string[];
    }
  | { ok: false; reason: string };

/**
 * The apps a container serves: it keeps the chosen apps installed at their latest published
 * version (checking the network on every `sync`, which the agent calls with each heartbeat), says
 * which are ready (for the heartbeat), and turns a lease's `workload.app` into the installed
 * app's command, with no install step. An app not published yet is installed as soon as it is; an
 * install that fails is not retried for that version (a new version is tried).
 */
export class LocalApps {
  private readonly installer: AppInstaller;
  private readonly ready = new Map<string, InstalledApp>();
  private readonly installing = new Set<string>();
  /** `name@version` -> why its install failed */
  private readonly failed = new Map<string, string>();
  /** lines already logged, so a state that lasts is reported once */
  private readonly said = new Set<string>();
  private syncing: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly opts: LocalAppsOptions) {
    this.installer = new AppInstaller({
      baseDir: opts.baseDir,
      ...(opts.log ? { log: opts.log } : {}),
      ...(opts.installTimeoutMs ? { timeoutMs: opts.installTimeoutMs } : {}),
    });
  }

  get wanted(): readonly string[] {
    return this.opts.wanted;
  }

  /** The ready apps for the heartbeat: each as `name` and as `name@version`, sorted. */
  readyList(): string[] {
    return [...this.ready.values()].flatMap((a) => [a.name, `${a.name}@${a.version}`]).sort();
  }

  status(): {
    ready: Array<{ name: string; version: string; dir: string }>;
    installing: string[];
    failed: Array<{ app: string; reason: string }>;
  } {
    return {
      ready: [...this.ready.values()].map(({ name, version, dir }) => ({ name, version, dir })),
      installing: [...this.installing],
      failed: [...this.failed].map(([app, reason]) => ({ app, reason })),
    };
  }

  /** Brings the installed apps up to date with the network; one sync at a time (a second call joins it). */
  sync(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.syncing ??= this.doSync().finally(() => (this.syncing = null));
    return this.syncing;
  }

  private async doSync(): Promise<void> {
    const { network } = this.opts;
    for (const name of this.opts.wanted) {
      if (this.stopped) return;
      if (!network.app) {
        this.once(`apps: this network client cannot look apps up; ${name} is not installed`);
        continue;
      }
      let pub;
      try {
        pub = await network.app(name);
      } catch (e) {
        this.once(`app ${name}: cannot look it up: ${(e as Error).message}`);
        continue;
      }
      if (!pub) {
        this.once(`app ${name} is not published (yet): it is installed once it is`);
        continue;
      }
      const m = pub.manifest;
      if (!appAllowedIn(m, this.opts.region)) {
        this.once(
          `app ${name} is published for ${m.regions!.join(', ')}, not ${this.opts.region}: not installed`,
        );
        continue;
      }
      const key = `${name}@${m.version}`;
      if (this.ready.get(name)?.version === m.version || this.failed.has(key)) continue;
      this.installing.add(name);
      try {
        const app = await this.installer.install(m);
        if (this.stopped) return;
        this.ready.set(name, app);
        this.opts.log?.(`app ${name} ${m.version} is ready${app.ran ? '' : ' (installed before)'}`);
        this.opts.onChange?.();
      } catch (e) {
        const why = (e as Error).message;
        this.failed.set(key, why);
        this.opts.log?.(`app ${name} ${m.version}: install failed: ${why}`);
      } finally {
        this.installing.delete(name);
      }
    }
  }

  /** What a lease naming an app runs here: the installed app's command, or why it cannot. */
  resolve(workload: Workload, gpus: number): Resolved {
    const name = workload.app!;
    const app = this.ready.get(name);
    const wanted = workload.version ? `${name} ${workload.version}` : name;
    if (!app)
      return {
        ok: false,
        reason: this.installing.has(name)
          ? `app ${name} is still installing on this container`
          : `app ${wanted} is not installed on this container`,
      };
    if (workload.version !== undefined && workload.version !== app.version)
      return {
        ok: false,
        reason: `app ${wanted} is not installed on this container (it has ${app.version})`,
      };
    if (gpus < app.gpus)
      return {
        ok: false,
        reason: `app ${name} ${app.version} needs ${app.gpus} GPUs, the lease has ${gpus}`,
      };
    return {
      ok: true,
      command: app.command.map((a) => a.replaceAll('${AETHIR_APP_DIR}', app.dir)),
      env: {
        ...app.env,
        ...(workload.env ?? {}),
        AETHIR_APP: app.name,
        AETHIR_APP_VERSION: app.version,
        AETHIR_APP_DIR: app.dir,
      },
      readOnlyPaths: [app.dir],
    };
  }

  /** Stops a running install and waits for the sync to end (a later `sync` starts again). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.installer.stop();
    await this.syncing;
    this.stopped = false;
  }

  private once(line: string): void {
    if (this.said.has(line)) return;
    if (this.said.size > 1000) this.said.clear();
    this.said.add(line);
    this.opts.log?.(line);
  }
}
