import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { connect, createServer as createNetServer, type Socket } from 'node:net';
import { AethirError } from '../core/index.js';

/**
 * Makes a workload that listens on its assigned port (AETHIR_PORT) reachable by its user: one
 * HTTP server per container routes `/l/<leaseId>/<path>` to `127.0.0.1:<port>/<path>` of that
 * lease's workload, WebSocket upgrades included (inference streams, game sessions). Workloads
 * listen on loopback only; this proxy is the one door, and it closes with the lease.
 *
 * The endpoint is as private as its URL: lease ids are public on the ledger, so a workload that
 * must not be reachable by others authenticates its own clients (as on other GPU clouds' proxies).
 */
export class EndpointProxy {
  private readonly routes = new Map<string, number>();
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
      if (!target) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ error: { code: 'NOT_FOUND', message: 'no running lease at this address' } }),
        );
        return;
      }
      const up = httpRequest(
        { host: '127.0.0.1', port: target.port, method: req.method, path: target.path, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
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
      const target = this.target(req);
      if (!target) return void socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
      const up = connect(target.port, '127.0.0.1', () => {
        const lines = [`${req.method} ${target.path} HTTP/${req.httpVersion}`];
        for (let i = 0; i < req.rawHeaders.length; i += 2)
          lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
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

  private target(req: IncomingMessage): { port: number; path: string } | null {
    const m = /^\/l\/([A-Za-z0-9_-]{1,64})(\/.*)?$/.exec(req.url ?? '');
    if (!m) return null;
    const port = this.routes.get(m[1]!);
    return port ? { port, path: m[2] ?? '/' } : null;
  }

  /** A free loopback port for a lease's workload, routed from now on. */
  async open(leaseId: string): Promise<number> {
    const port = await new Promise<number>((resolve, reject) => {
      const probe = createNetServer();
      probe.once('error', reject);
      probe.listen(0, '127.0.0.1', () => {
        const a = probe.address();
        probe.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
      });
    });
    this.routes.set(leaseId, port);
    return port;
  }

  close(leaseId: string): void {
    this.routes.delete(leaseId);
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
