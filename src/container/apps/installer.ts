import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { canonicalize } from '../../core/canonical.js';
import { sha256Hex } from '../../core/encoding.js';
import { AethirError } from '../../core/errors.js';
import { mainService, type AppManifest } from '../../ledger/app.js';

/** What a session of an installed app runs (see LocalApps.resolve). */
export interface InstalledApp {
  name: string;
  version: string;
  /** `<baseDir>/<name>/<version>`: where the install steps ran; sessions see it as $AETHIR_APP_DIR */
  dir: string;
  service: string;
  command: string[];
  env: Record<string, string>;
  gpus: number;
  /** true when this call ran the install steps; false when an earlier install was found ready */
  ran: boolean;
}

export interface AppInstallerOptions {
  /** parent of the app directories, e.g. `<data>/apps` */
  baseDir: string;
  /** every line the install steps print, and progress */
  log?: (line: string) => void;
  /** the longest one app's install steps may run together (default 30 minutes) */
  timeoutMs?: number;
  /** PATH for the install steps (default: the agent's own) */
  path?: string;
}

const DEFAULT_TIMEOUT_MS = 30 * 60_000;
const MARKER = '.ready';
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The install under way in this process for each app directory. A devnet's hosts share one apps
 * directory: one runs the steps while the others wait, then find the app ready. (Each emptied the
 * directory and ran the steps again, under the feet of the one already running them.)
 */
const runningIn = new Map<string, Promise<unknown>>();

/**
 * Pre-installs apps on this host: runs a manifest's install steps once, with `sh -c`, in
 * `<baseDir>/<name>/<version>/`, under a time limit, printing their output to the agent's log, and
 * then writes a `.ready` marker (holding the manifest's digest). An app whose marker matches is
 * ready at once, after a restart too, without running anything; a failed or interrupted install
 * leaves no marker, and the next try starts from an empty directory.
 *
 * Like the host-process runtime, install steps run as the agent's user, in their own process
 * group (so a time-out kills everything they started); they are the app developer's code, so
 * operators choose which apps they pre-install.
 */
export class AppInstaller {
  private readonly baseDir: string;
  private readonly timeoutMs: number;
  private readonly pathVar: string;
  private child: ChildProcess | null = null;
  private stopped = false;
  /** installs run one at a time */
  private queue: Promise<unknown> = Promise.resolve();
  /** resolves when stop() is called: an install waiting for another installer's stops waiting (and fails) */
  private stopRequested!: Promise<void>;
  private requestStop!: () => void;

  constructor(private readonly opts: AppInstallerOptions) {
    this.baseDir = path.resolve(opts.baseDir);
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.pathVar = opts.path ?? process.env.PATH ?? DEFAULT_PATH;
    this.armStop();
  }

  dirOf(m: Pick<AppManifest, 'name' | 'version'>): string {
    return path.join(this.baseDir, m.name, m.version);
  }

  /** Whether this exact manifest is installed and ready here. */
  async isReady(m: AppManifest): Promise<boolean> {
    try {
      const marker = JSON.parse(await readFile(path.join(this.dirOf(m), MARKER), 'utf8'));
      return marker?.digest === digestOf(m);
    } catch {
      return false;
    }
  }

  /** Installs the app unless it is ready already; resolves with how its sessions run. */
  install(m: AppManifest): Promise<InstalledApp> {
    const run = this.queue.then(() => this.inTurn(this.dirOf(m), () => this.doInstall(m)));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Runs `f` once no other installer of this process is installing into `dir` (or this one stops). */
  private inTurn<T>(dir: string, f: () => Promise<T>): Promise<T> {
    const before = runningIn.get(dir);
    const run = (before ? Promise.race([before, this.stopRequested]) : Promise.resolve()).then(f);
    // the next waits for this one and for the one before it (which a stop may have left running)
    const done = Promise.allSettled([before, run]).then(() => {
      if (runningIn.get(dir) === done) runningIn.delete(dir);
    });
    runningIn.set(dir, done);
    return run;
  }

  /** Stops a running install (it fails and leaves no marker); installs queued meanwhile fail too. */
  async stop(): Promise<void> {
    this.stopped = true;
    killGroup(this.child);
    this.requestStop();
    await this.queue;
    this.stopped = false;
    this.armStop();
  }

  private armStop(): void {
    this.stopRequested = new Promise((r) => (this.requestStop = r));
  }

  private async doInstall(m: AppManifest): Promise<InstalledApp> {
    const dir = this.dirOf(m);
    const { name: service, service: svc } = mainService(m);
    const installed = (ran: boolean): InstalledApp => ({
      name: m.name,
      version: m.version,
      dir,
      service,
      command: svc.command,
      env: svc.env ?? {},
      gpus: svc.gpus,
      ran,
    });
    if (await this.isReady(m)) return installed(false);
    if (this.stopped) throw new AethirError('UNAVAILABLE', 'the container is stopping');
    const label = `app ${m.name} ${m.version}`;
    // A directory without a matching marker holds a failed, interrupted or other install: start afresh.
    await rm(dir, { recursive: true, force: true });
    // Readable by sandboxed sessions (their own uid): an app is public, published on the ledger.
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const steps = svc.install ?? [];
    const deadline = Date.now() + this.timeoutMs;
    this.opts.log?.(`${label}: installing in ${dir} (${steps.length} step${steps.length === 1 ? '' : 's'})`);
    const env: Record<string, string> = {
      PATH: this.pathVar,
      HOME: dir,
      LANG: 'C.UTF-8',
      TERM: 'dumb',
      ...(svc.env ?? {}),
      AETHIR_APP: m.name,
      AETHIR_APP_VERSION: m.version,
      AETHIR_APP_DIR: dir,
    };
    for (const [i, step] of steps.entries()) {
      const what = `install step ${i + 1} of ${steps.length} (${step.length > 60 ? `${step.slice(0, 57)}...` : step})`;
      await this.runStep(step, dir, env, deadline, `${label}: `, what);
    }
    await writeFile(
      path.join(dir, MARKER),
      JSON.stringify({ name: m.name, version: m.version, digest: digestOf(m) }) + '\n',
    );
    this.opts.log?.(`${label}: ready`);
    return installed(true);
  }

  private runStep(
    step: string,
    cwd: string,
    env: Record<string, string>,
    deadline: number,
    prefix: string,
    what: string,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.stopped) return reject(new AethirError('UNAVAILABLE', 'the container is stopping'));
      const left = deadline - Date.now();
      if (left <= 0) return reject(timeoutError(what, this.timeoutMs));
      const child = spawn('sh', ['-c', step], {
        cwd,
        env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      this.child = child;
      const tail: string[] = [];
      const pending = { stdout: '', stderr: '' };
      const onData = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
        const lines = (pending[stream] + chunk.toString('utf8')).split('\n');
        pending[stream] = lines.pop()!;
        for (const line of lines) emit(line);
      };
      const emit = (line: string) => {
        this.opts.log?.(`${prefix}${line}`);
        tail.push(line);
        if (tail.length > 5) tail.shift();
      };
      child.stdout!.on('data', onData('stdout'));
      child.stderr!.on('data', onData('stderr'));
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup(child);
      }, left);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(new AethirError('RUNTIME_FAILED', `${what} could not start: ${e.message}`));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        this.child = null;
        for (const s of ['stdout', 'stderr'] as const) if (pending[s]) emit(pending[s]);
        if (timedOut) return reject(timeoutError(what, this.timeoutMs));
        if (this.stopped) return reject(new AethirError('UNAVAILABLE', 'the container is stopping'));
        if (code === 0) return resolve();
        const last = tail.length ? `: ${tail[tail.length - 1]!.slice(0, 200)}` : '';
        reject(
          new AethirError(
            'RUNTIME_FAILED',
            `${what} ${code === null ? `was killed by ${signal}` : `exited with ${code}`}${last}`,
          ),
        );
      });
    });
  }
}

function digestOf(m: AppManifest): string {
  return sha256Hex(canonicalize(m));
}

function timeoutError(what: string, timeoutMs: number): AethirError {
  return new AethirError(
    'TIMEOUT',
    `${what}: the install ran past its limit of ${Math.round(timeoutMs / 1000)} s`,
  );
}

function killGroup(child: ChildProcess | null): void {
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
