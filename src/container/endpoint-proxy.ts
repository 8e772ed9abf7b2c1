import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { lookup } from 'node:dns/promises';
import { connect, createServer as createNetServer, isIPv4, type Socket } from 'node:net';
import { AethirError } from '../core/errors.js';
import { verifyLeaseToken } from '../core/lease-token.js';
import { handleLeaseAccess, type LeaseAccessTarget } from './lease-access.js';

/** Who may open a lease's endpoint: its user's lease tokens, or anyone where the lease says so. */
export interface EndpointAccess {
  chainId: string;
  /** the lease's user (address): tokens must be signed by its key */
  user: string;
  /** the lease opted into public access (`rent --public-endpoint`) */
  public?: boolean;
}

const COOKIE = 'aethir_lease_token';

/**
 * Makes a workload that listens on its assigned port (AETHIR_PORT) reachable by its user: one
 * HTTP server per container routes `/l/<leaseId>/<path>` to `127.0.0.1:<port>/<path>` of that
 * lease's workload, WebSocket upgrades included (inference streams, game sessions). Workloads
 * listen on loopback only; this proxy is the one door, and it closes with the lease.
 *
 * Lease ids are public on the ledger, so an id grants nothing: a request carries a lease token
 * signed by the lease's user (src/core/lease-token.ts, scope `endpoint`) as `?token=`, as
 * `X-Aethir-Lease-Token`, or in the cookie this proxy sets (scoped to /l/<lease>/) when a browser
 * first comes with `?token=`; unless the lease made its endpoint public. The token is taken out
 * of what reaches the workload.
 */
export class EndpointProxy {
  private readonly routes = new Map<string, { port: number; access: EndpointAccess }>();
  /** running leases' doors for shells, exec and copies (`/x/<lease>/…`, lease-access.ts) */
  private readonly doors = new Map<string, LeaseAccessTarget>();
  private readonly resolvers = new Set<(leaseId: string) => Promise<LeaseAccessTarget | undefined>>();
  private server: Server | null = null;
  private baseUrl: string | null = null;

  constructor(
    private readonly opts: {
      /** port to listen on (0: any free one) */
      port?: number;
      host?: string;
      /** the base URL users reach this proxy at (default http://<host>:<port>) */
      publicUrl?: string;
    } = {},
  ) {}

  async start(): Promise<string> {
    if (this.baseUrl) return this.baseUrl;
    const server = createServer((req, res) => {
      const target = this.target(req);
      if (!target.ok) {
        res.writeHead(target.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: target.code, message: target.message } }));
        return;
      }
      const up = httpRequest(
        {
          host: '127.0.0.1',
          port: target.port,
          method: req.method,
          path: target.path,
          headers: target.headers,
        },
        (r) => {
          const headers = { ...r.headers };
          if (target.setCookie) headers['set-cookie'] = [...(headers['set-cookie'] ?? []), target.setCookie];
          res.writeHead(r.statusCode ?? 502, headers);
          r.pipe(res);
        },
      );
      up.on('error', (e) => {
        if (res.headersSent) return void res.destroy();
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            error: { code: 'UNAVAILABLE', message: `the workload does not answer on its port: ${e.message}` },
          }),
        );
      });
      req.pipe(up);
    });
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      const door = /^\/x\/([A-Za-z0-9_-]{1,64})\/([a-z]+)$/.exec(req.url ?? '');
      if (door) {
        socket.on('error', () => undefined);
        const id = door[1]!;
        const notHere = () => {
          const body = JSON.stringify({
            error: { code: 'NOT_FOUND', message: `lease ${id} is not running on this container` },
          });
          socket.end(
            `HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
          );
        };
        const target = this.doors.get(id);
        if (target) return void handleLeaseAccess(id, door[2]!, target, req, socket, head);
        if (this.resolvers.size === 0) return notHere();
        // a door kept without a running lease (an ended lease's checkpoint): asked of the agents
        void this.resolve(id).then(
          (t) => (t ? handleLeaseAccess(id, door[2]!, t, req, socket, head) : notHere()),
          () => notHere(),
        );
        return;
      }
      const target = this.target(req);
      if (!target.ok)
        return void socket.end(
          `HTTP/1.1 ${target.status} ${target.status === 404 ? 'Not Found' : 'Unauthorized'}\r\n\r\n`,
        );
      const up = connect(target.port, '127.0.0.1', () => {
        const lines = [`${req.method} ${target.path} HTTP/${req.httpVersion}`];
        for (const [name, value] of Object.entries(target.headers))
          for (const v of Array.isArray(value) ? value : [value])
            if (v !== undefined) lines.push(`${name}: ${v}`);
        up.write(lines.join('\r\n') + '\r\n\r\n');
        if (head.length) up.write(head);
        up.pipe(socket);
        socket.pipe(up);
      });
      up.on('error', () => socket.destroy());
      socket.on('error', () => up.destroy());
    });
    const host = this.opts.host ?? '0.0.0.0';
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) =>
        reject(new AethirError('UNAVAILABLE', `the endpoint proxy cannot listen: ${(e as Error).message}`)),
      );
      server.listen(this.opts.port ?? 0, host, () => resolve());
    });
    this.server = server;
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : this.opts.port;
    this.baseUrl = (
      this.opts.publicUrl ?? `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`
    ).replace(/\/+$/, '');
    return this.baseUrl;
  }

  /** The base URL (after start). */
  get url(): string | null {
    return this.baseUrl;
  }

  private address: Promise<string | undefined> | null = null;
  /**
   * The IPv4 address players reach this host at: the base URL's host, looked up once if it is a
   * name (a sandboxed lease's UDP port is forwarded from it). Undefined before start, or when the
   * name has no IPv4 address.
   */
  publicAddress(): Promise<string | undefined> {
    if (!this.baseUrl) return Promise.resolve(undefined);
    const host = new URL(this.baseUrl).hostname;
    return (this.address ??= isIPv4(host)
      ? Promise.resolve(host)
      : lookup(host, { family: 4 }).then(
          (a) => a.address,
          () => undefined,
        ));
  }

  private target(
    req: IncomingMessage,
  ):
    | { ok: true; port: number; path: string; headers: IncomingMessage['headers']; setCookie?: string }
    | { ok: false; status: 401 | 404; code: string; message: string } {
    const m = /^\/l\/([A-Za-z0-9_-]{1,64})(\/[^?]*)?(\?.*)?$/.exec(req.url ?? '');
    const route = m ? this.routes.get(m[1]!) : undefined;
    if (!m || !route)
      return { ok: false, status: 404, code: 'NOT_FOUND', message: 'no running lease at this address' };
    const leaseId = m[1]!;
    const query = new URLSearchParams(m[3]?.slice(1) ?? '');
    const fromQuery = query.get('token');
    query.delete('token');
    const headers = { ...req.headers };
    const fromHeader = headers['x-aethir-lease-token'];
    delete headers['x-aethir-lease-token'];
    const cookies = (headers.cookie ?? '').split(/;\s*/).filter(Boolean);
    const fromCookie = cookies.find((c) => c.startsWith(`${COOKIE}=`))?.slice(COOKIE.length + 1);
    const others = cookies.filter((c) => !c.startsWith(`${COOKIE}=`));
    if (others.length) headers.cookie = others.join('; ');
    else delete headers.cookie;
    const rest = query.toString();
    const path = (m[2] ?? '/') + (rest ? `?${rest}` : '');
    if (route.access.public) return { ok: true, port: route.port, path, headers };
    const token = fromQuery ?? (typeof fromHeader === 'string' ? fromHeader : undefined) ?? fromCookie;
    if (!token)
      return {
        ok: false,
        status: 401,
        code: 'UNAUTHORIZED',
        message:
          "this lease's endpoint needs a lease token signed by its user (?token=…; aethir lease token)",
      };
    let exp: number;
    try {
      exp = verifyLeaseToken(token, {
        chainId: route.access.chainId,
        lease: leaseId,
        user: route.access.user,
        scope: 'endpoint',
        now: Date.now(),
      }).exp;
    } catch (e) {
      return { ok: false, status: 401, code: 'UNAUTHORIZED', message: (e as Error).message };
    }
    // A browser that came with ?token= keeps working on the lease's pages without it.
    const setCookie =
      fromQuery !== null
        ? `${COOKIE}=${token}; Path=/l/${leaseId}/; Max-Age=${Math.max(1, Math.floor((exp - Date.now()) / 1000))}; HttpOnly; SameSite=Lax`
        : undefined;
    return { ok: true, port: route.port, path, headers, ...(setCookie ? { setCookie } : {}) };
  }

  /** A free loopback port for a lease's workload, routed from now on for whom `access` admits. */
  /** `reuse`: the port the lease had before a pause (a thawed container is still published on it). */
  async open(leaseId: string, access: EndpointAccess, reuse?: number): Promise<number> {
    const port =
      reuse ??
      (await new Promise<number>((resolve, reject) => {
        const probe = createNetServer();
        probe.once('error', reject);
        probe.listen(0, '127.0.0.1', () => {
          const a = probe.address();
          probe.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
        });
      }));
    this.routes.set(leaseId, { port, access });
    return port;
  }

  close(leaseId: string): void {
    this.routes.delete(leaseId);
    this.doors.delete(leaseId);
  }

  /**
   * Where a door not open for a running lease may still be found (an ended interruptible lease's
   * checkpoint, kept for a while): the agent answers with its target, or undefined.
   */
  resolveDoors(fn: (leaseId: string) => Promise<LeaseAccessTarget | undefined>): () => void {
    this.resolvers.add(fn);
    return () => void this.resolvers.delete(fn);
  }

  private async resolve(leaseId: string): Promise<LeaseAccessTarget | undefined> {
    for (const fn of this.resolvers) {
      const t = await fn(leaseId).catch(() => undefined);
      if (t) return t;
    }
    return undefined;
  }

  /** Opens (or with null closes) a running lease's door for its user's sessions (lease-access.ts). */
  door(leaseId: string, target: LeaseAccessTarget | null): void {
    if (target) this.doors.set(leaseId, target);
    else this.doors.delete(leaseId);
  }

  /** Where the API node reaches a lease's door (`kind`: exec or files). */
  doorOf(leaseId: string, kind: 'exec' | 'files'): string | null {
    return this.baseUrl && this.doors.has(leaseId) ? `${this.baseUrl}/x/${leaseId}/${kind}` : null;
  }

  /** The user-facing address of a lease's endpoint. */
  endpointOf(leaseId: string): string | null {
    return this.baseUrl && this.routes.has(leaseId) ? `${this.baseUrl}/l/${leaseId}/` : null;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
