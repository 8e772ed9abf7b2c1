import { createCanvas } from '@napi-rs/canvas';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RTCRtpHeaderExtensionParameters,
  RtcpRrPacket,
  RtpPacket,
  type RTCDataChannel,
} from 'werift';
import { isGameInput, newArena, step, TICK_MS, TickClock, type ArenaState, type GameInput } from './arena.js';
import { drawFrame } from './render.js';
import { AnswerBody, RESOLUTIONS, SessionRequest, type Resolution } from './signalling.js';

export { RESOLUTIONS, type Resolution } from './signalling.js';

/**
 * A game session's host process (the `arena` app's `run`): renders the game on this machine with
 * @napi-rs/canvas at a fixed tick, encodes the frames with ffmpeg (VP8 with libvpx, or H.264 on
 * an NVIDIA GPU's NVENC where one works, or libx264 when asked; realtime, no lookahead) and
 * streams them over WebRTC (werift); the player's inputs come back on a data channel and are
 * applied at the next tick.
 *
 * Signalling is plain HTTP on the session's port ($AETHIR_PORT), which only the container's
 * endpoint proxy exposes, to the lease's user (a lease token): `POST /session` answers the host's
 * offer, `POST /session/<id>/answer` takes the browser's answer. The API node relays both
 * (`/v1/leases/<id>/gaming/...`, src/api/routes/gaming.ts).
 *
 * One player at a time: a new session replaces the previous one (a reload reconnects). The process
 * ends, and with it the lease, when the player leaves (the peer closes, or stays unreachable for
 * `lostAfterMs`), or when nobody connects within `idleExitMs` of the start or of the last session.
 */

export interface GameHostOptions {
  port: number;
  host?: string;
  /** the game's seed: the same seed and inputs give the same frames */
  seed?: string;
  ffmpeg?: string;
  /** encoder threads (libvpx) */
  threads?: number;
  /** end the process when no player is connected for this long (default 120 s) */
  idleExitMs?: number;
  /** a player whose connection stays disconnected this long has left (default 8 s) */
  lostAfterMs?: number;
  /** extra ICE host addresses (the endpoint's host); loopback is always offered */
  iceHosts?: string[];
  /**
   * the one UDP port media goes through (`$AETHIR_UDP_PORT`: a sandboxed lease's forwarded port);
   * then only loopback (or the first of `iceHosts`) is offered, on it. Absent: any free port on
   * each of the host's addresses.
   */
  icePort?: number;
  log?: (line: string) => void;
  /** called when the host decides the session is over */
  onEnd?: (reason: string) => void;
}

export interface HostStats {
  resolution: string;
  /** the video encoder of the session: libvpx (VP8), libx264 or h264_nvenc (H.264) */
  encoder: VideoEncoder;
  width: number;
  height: number;
  fps: number;
  framesRendered: number;
  framesEncoded: number;
  framesSkipped: number;
  renderMsAvg: number;
  encodeMsAvg: number;
  encodeMsP50: number;
  bitrateKbps: number;
  targetBitrateKbps: number;
  encoderRestarts: number;
  lossFraction: number;
  inputsApplied: number;
  lastSeq: number;
  connection: string;
  /**
   * the last inputs' way through this host (wall-clock ms, so a player on the same machine can
   * line them up with its own): received, applied by a tick, rendered, last RTP packet out
   */
  trace: InputTrace[];
}

/** One input's way through the host, wall-clock ms (`performance.timeOrigin + now`). */
export interface InputTrace {
  seq: number;
  /** the data channel handed it over */
  receivedAt: number;
  /** the tick that applied it started */
  tickAt?: number;
  /** that tick's frame was drawn and read back */
  renderedAt?: number;
  /** the frame's last RTP packet went to the WebRTC stack (absent: the frame was skipped) */
  sentAt?: number;
  /** the frame that first showed it */
  frame?: number;
}

class Window {
  private xs: number[] = [];
  constructor(private readonly n = 300) {}
  add(x: number) {
    this.xs.push(x);
    if (this.xs.length > this.n) this.xs.shift();
  }
  avg() {
    return this.xs.length ? this.xs.reduce((a, b) => a + b, 0) / this.xs.length : 0;
  }
  p50() {
    if (!this.xs.length) return 0;
    const s = [...this.xs].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)]!;
  }
}

/** The encoders a session may use: VP8 in software, H.264 in software or on an NVIDIA GPU. */
export type VideoEncoder = 'libvpx' | 'libx264' | 'h264_nvenc';

/** The RTP payload type and SDP of each codec (H.264: constrained baseline, FU-A packets). */
const CODECS = {
  vp8: { mimeType: 'video/VP8', payloadType: 96 },
  h264: {
    mimeType: 'video/H264',
    payloadType: 102,
    parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
  },
} as const;

export function codecOf(encoder: VideoEncoder): keyof typeof CODECS {
  return encoder === 'libvpx' ? 'vp8' : 'h264';
}

/**
 * Whether this machine's ffmpeg encodes H.264 on an NVIDIA GPU: it lists h264_nvenc and one frame
 * really encodes (the encoder is in Debian's ffmpeg whether or not a GPU and driver are there).
 * Asked once per process.
 */
const nvenc = new Map<string, Promise<boolean>>();
export function nvencWorks(ffmpeg = 'ffmpeg'): Promise<boolean> {
  const known = nvenc.get(ffmpeg);
  if (known) return known;
  const works = new Promise<boolean>((resolve) => {
    const p = spawn(
      ffmpeg,
      [
        ...['-hide_banner', '-loglevel', 'error', '-nostdin'],
        ...['-f', 'lavfi', '-i', 'color=c=black:s=256x256:r=30', '-frames:v', '1'],
        ...['-c:v', 'h264_nvenc', '-f', 'null', '-'],
      ],
      { stdio: 'ignore' },
    );
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    p.on('error', () => resolve(false));
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve(code === 0);
    });
  });
  nvenc.set(ffmpeg, works);
  return works;
}

/** The encoder for a session's `codec`: NVENC's H.264 where it works, else VP8 (auto) or libx264. */
export async function pickEncoder(codec: 'auto' | 'vp8' | 'h264', ffmpeg?: string): Promise<VideoEncoder> {
  if (codec === 'vp8') return 'libvpx';
  if (await nvencWorks(ffmpeg)) return 'h264_nvenc';
  return codec === 'h264' ? 'libx264' : 'libvpx';
}

/**
 * ffmpeg's arguments from raw RGBA frames on stdin to H.264 at the streaming settings: no B-frames,
 * no lookahead, constrained baseline (what every WebRTC browser decodes), SPS/PPS before every key
 * frame (a player joining or recovering needs them in the stream), a key frame at least every 3 s.
 * NVENC: its lowest-latency preset and tuning; libx264: ultrafast with zero-latency tuning.
 */
export function h264Args(
  encoder: 'libx264' | 'h264_nvenc',
  width: number,
  height: number,
  kbps: number,
  threads: number,
): string[] {
  return [
    ...['-hide_banner', '-loglevel', 'error', '-nostdin'],
    ...['-f', 'rawvideo', '-pix_fmt', 'rgba', '-s', `${width}x${height}`, '-r', '30', '-i', 'pipe:0'],
    ...['-an', '-c:v', encoder, '-pix_fmt', 'yuv420p', '-profile:v', 'baseline', '-bf', '0', '-g', '90'],
    ...(encoder === 'h264_nvenc'
      ? ['-preset', 'p1', '-tune', 'ull', '-zerolatency', '1', '-rc', 'cbr', '-forced-idr', '1']
      : ['-preset', 'ultrafast', '-tune', 'zerolatency', '-threads', String(threads)]),
    ...['-b:v', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${Math.round(kbps / 2)}k`],
    ...['-bsf:v', 'dump_extra=freq=keyframe'],
  ];
}

/**
 * ffmpeg's arguments from raw RGBA frames on stdin to VP8 (libvpx) at the streaming settings:
 * realtime deadline, the fastest speed step, unchanged blocks skipped, no lookahead or alt-ref frames, error resilient, a key
 * frame at least every 3 s; the output format is the caller's.
 */
export function vp8Args(width: number, height: number, kbps: number, threads: number): string[] {
  return [
    ...['-hide_banner', '-loglevel', 'error', '-nostdin'],
    ...['-f', 'rawvideo', '-pix_fmt', 'rgba', '-s', `${width}x${height}`, '-r', '30', '-i', 'pipe:0'],
    ...['-an', '-c:v', 'libvpx', '-pix_fmt', 'yuv420p'],
    // the fastest realtime speed step; blocks that did not change (most of a game's frame) are
    // skipped rather than searched: 12.8 -> 5.4 ms a 720p frame on the development VM
    ...['-deadline', 'realtime', '-cpu-used', '16', '-static-thresh', '100'],
    ...['-lag-in-frames', '0', '-auto-alt-ref', '0'],
    ...['-error-resilient', '1', '-threads', String(threads), '-g', '90', '-qmin', '4', '-qmax', '52'],
    ...['-b:v', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${Math.round(kbps / 2)}k`],
  ];
}

/** One encoder process: raw RGBA frames in, RTP packets (VP8 or H.264) out to a loopback UDP socket. */
class Encoder {
  readonly proc: ChildProcess;
  readonly written: number[] = [];
  /** the game frame of each frame written, in order */
  readonly frames: number[] = [];
  ts0: number | null = null;
  busy = false;
  constructor(
    ffmpeg: string,
    encoder: VideoEncoder,
    width: number,
    height: number,
    kbps: number,
    threads: number,
    rtpPort: number,
    log: (s: string) => void,
  ) {
    const codec = CODECS[codecOf(encoder)];
    this.proc = spawn(
      ffmpeg,
      [
        ...(encoder === 'libvpx'
          ? vp8Args(width, height, kbps, threads)
          : h264Args(encoder, width, height, kbps, threads)),
        ...['-f', 'rtp', '-payload_type', String(codec.payloadType)],
        `rtp://127.0.0.1:${rtpPort}?pkt_size=1200`,
      ],
      { stdio: ['pipe', 'ignore', 'pipe'] },
    );
    this.proc.stderr!.on('data', (d: Buffer) => log(`ffmpeg: ${d.toString().trim()}`));
    this.proc.stdin!.on('error', () => {});
  }
  /** called when a busy encoder has taken its frame (it may take the next one) */
  onIdle: (() => void) | null = null;
  /** frames written whose last packet has not come out yet */
  inFlight = 0;
  private lastWrite = 0;
  /** whether a frame written now would wait behind another one (a lost output counts for 100 ms) */
  get encoding(): boolean {
    return this.busy || (this.inFlight > 0 && performance.now() - this.lastWrite < 100);
  }
  write(frame: Buffer, n: number): boolean {
    if (this.busy || !this.proc.stdin!.writable) return false;
    this.inFlight++;
    this.lastWrite = performance.now();
    this.written.push(this.lastWrite);
    this.frames.push(n);
    if (!this.proc.stdin!.write(frame)) {
      this.busy = true;
      this.proc.stdin!.once('drain', () => {
        this.busy = false;
        this.onIdle?.();
      });
    }
    return true;
  }
  stop() {
    this.proc.stdin!.end();
    this.proc.kill('SIGKILL');
  }
}

export class GameHost {
  private server: Server | null = null;
  private pc: RTCPeerConnection | null = null;
  private sessionId: string | null = null;
  private channel: RTCDataChannel | null = null;
  private track: MediaStreamTrack | null = null;
  private encoder: Encoder | null = null;
  private rtp: UdpSocket | null = null;
  private rtpPort = 0;
  private loop: NodeJS.Timeout | null = null;
  private clock: TickClock | null = null;
  private tickMode: 'input' | 'fixed' = 'input';
  /** an input waits for the encoder to take its frame, then pulls the next tick */
  private pullWanted = false;
  private game: ArenaState;
  private pending: GameInput[] = [];
  private frame = 0;
  private width = 1280;
  private height = 720;
  private resolution: Resolution = '720p';
  private videoEncoder: VideoEncoder = 'libvpx';
  private kbps = 2500;
  private maxKbps = 2500;
  private canvas = createCanvas(1280, 720);
  private readonly render = new Window();
  private readonly encode = new Window();
  private bytes: Array<[number, number]> = [];
  private encoded = 0;
  private rendered = 0;
  private skipped = 0;
  private restarts = 0;
  private inputs = 0;
  private loss = 0;
  private lossyReports = 0;
  private cleanSince = 0;
  private lastRestart = 0;
  private outSeq = 0;
  /** RTP time is 90 kHz from this random origin */
  private readonly tsOrigin = randomBytes(4).readUInt32BE(0);
  /** the last inputs' trace, by seq; and which inputs a frame (not yet sent) carries */
  private readonly traces = new Map<number, InputTrace>();
  private readonly frameInputs = new Map<number, InputTrace[]>();
  private pendingApplied: InputTrace[] = [];
  private idleTimer: NodeJS.Timeout | null = null;
  private lostTimer: NodeJS.Timeout | null = null;
  private ended = false;
  private readonly log: (s: string) => void;

  constructor(private readonly opts: GameHostOptions) {
    this.game = newArena(opts.seed ?? 'arena');
    this.log = opts.log ?? (() => {});
  }

  async start(): Promise<string> {
    this.rtp = createSocket('udp4');
    this.rtp.on('message', (m) => this.onRtp(m));
    await new Promise<void>((r) => this.rtp!.bind(0, '127.0.0.1', () => r()));
    this.rtpPort = this.rtp.address().port;
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host ?? '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.armIdle();
    const a = server.address();
    return `http://127.0.0.1:${typeof a === 'object' && a ? a.port : this.opts.port}`;
  }

  stats(): HostStats {
    const now = performance.now();
    this.bytes = this.bytes.filter(([t]) => now - t < 2000);
    const span = this.bytes.length ? Math.max(500, now - this.bytes[0]![0]) : 1;
    const sum = this.bytes.reduce((s, [, b]) => s + b, 0);
    return {
      resolution: this.resolution,
      encoder: this.videoEncoder,
      width: this.width,
      height: this.height,
      fps: Math.round(1000 / TICK_MS),
      framesRendered: this.rendered,
      framesEncoded: this.encoded,
      framesSkipped: this.skipped,
      renderMsAvg: round(this.render.avg()),
      encodeMsAvg: round(this.encode.avg()),
      encodeMsP50: round(this.encode.p50()),
      bitrateKbps: Math.round((sum * 8) / span),
      targetBitrateKbps: this.kbps,
      encoderRestarts: this.restarts,
      lossFraction: round(this.loss),
      inputsApplied: this.inputs,
      lastSeq: this.game.lastSeq,
      connection: this.pc?.connectionState ?? 'none',
      trace: [...this.traces.values()],
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    const fail = (status: number, code: string, message: string) =>
      send(status, { error: { code, message } });
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'GET' && url.pathname === '/stats') return send(200, this.stats());
      if (req.method === 'GET' && url.pathname === '/')
        return send(200, { game: 'arena', session: this.sessionId !== null, stats: this.stats() });
      if (req.method === 'POST' && url.pathname === '/session') {
        const parsed = SessionRequest.safeParse(await jsonBody(req));
        if (!parsed.success) return fail(400, 'INVALID_ARGUMENT', parsed.error.issues[0]!.message);
        const { resolution, bitrateKbps, tick, codec } = parsed.data;
        return send(200, await this.newSession(resolution, bitrateKbps, tick, codec));
      }
      const m = /^\/session\/([0-9a-f]{32})\/answer$/.exec(url.pathname);
      if (req.method === 'POST' && m) {
        if (m[1] !== this.sessionId || !this.pc)
          return fail(404, 'NOT_FOUND', 'no such session (a newer one replaced it, or it ended)');
        const parsed = AnswerBody.safeParse(await jsonBody(req));
        if (!parsed.success || !looksLikeAnswer(parsed.data.sdp))
          return fail(400, 'INVALID_ARGUMENT', 'the body must be an SDP answer');
        if (this.pc.remoteDescription)
          return fail(409, 'CONFLICT', 'this session has its answer already (start a new session)');
        try {
          await this.pc.setRemoteDescription(parsed.data);
        } catch (e) {
          return fail(400, 'INVALID_ARGUMENT', `the SDP answer was refused: ${(e as Error).message}`);
        }
        res.writeHead(204).end();
        return;
      }
      fail(404, 'NOT_FOUND', `no route ${req.method} ${url.pathname}`);
    } catch (e) {
      if (e instanceof PortTakenError) return fail(503, 'UNAVAILABLE', e.message);
      if (e instanceof BodyError) {
        const tooBig = e.message === 'too large';
        return fail(
          tooBig ? 413 : 400,
          'INVALID_ARGUMENT',
          tooBig ? 'body too large' : 'the body must be JSON',
        );
      }
      this.log(`arena: ${req.method} ${req.url}: ${(e as Error).stack ?? e}`);
      fail(500, 'INTERNAL', `the game host failed: ${(e as Error).message}`);
    }
  }

  private async newSession(
    resolution: Resolution,
    kbps: number,
    tick: 'input' | 'fixed',
    codec: 'auto' | 'vp8' | 'h264' = 'auto',
  ) {
    await this.closePeer(); // (its port first: a fixed ICE port is taken again at once)
    this.tickMode = tick;
    this.videoEncoder = await pickEncoder(codec, this.opts.ffmpeg);
    const c = CODECS[codecOf(this.videoEncoder)];
    const [w, h] = RESOLUTIONS[resolution];
    if (w !== this.width || h !== this.height) this.canvas = createCanvas(w, h);
    this.width = w;
    this.height = h;
    this.resolution = resolution;
    this.kbps = this.maxKbps = kbps;
    const id = randomBytes(16).toString('hex');
    this.sessionId = id;
    const pc = new RTCPeerConnection({
      codecs: {
        video: [
          new RTCRtpCodecParameters({
            mimeType: c.mimeType,
            clockRate: 90000,
            payloadType: c.payloadType,
            rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
            ...('parameters' in c ? { parameters: c.parameters } : {}),
          }),
        ],
      },
      // video and inputs on one transport (one port: what a sandbox forwards)
      bundlePolicy: 'max-bundle',
      headerExtensions: {
        video: [new RTCRtpHeaderExtensionParameters({ id: PLAYOUT_DELAY_ID, uri: PLAYOUT_DELAY_URI })],
      },
      ...(this.opts.icePort
        ? {
            // one port, one candidate: the address the port is forwarded to
            // (werift wants a range of two; it takes the lowest free port, this one)
            icePortRange: [this.opts.icePort, this.opts.icePort + 1] as [number, number],
            iceAdditionalHostAddresses: [this.opts.iceHosts?.[0] ?? '127.0.0.1'],
            iceUseIpv4: false,
          }
        : { iceAdditionalHostAddresses: ['127.0.0.1', ...(this.opts.iceHosts ?? [])] }),
      iceUseIpv6: false,
    });
    this.pc = pc;
    const track = new MediaStreamTrack({ kind: 'video' });
    this.track = track;
    const tr = pc.addTransceiver(track, { direction: 'sendonly' });
    tr.sender.onPictureLossIndication.subscribe(() => {
      // a lost picture: a fresh encoder starts with a key frame (at most once a second)
      if (performance.now() - this.lastRestart > 1000) this.restartEncoder('picture loss');
    });
    tr.sender.onRtcp.subscribe((p) => {
      if (!(p instanceof RtcpRrPacket) || !p.reports.length) return;
      this.adapt(p.reports[0]!.fractionLost / 256);
    });
    const dc = pc.createDataChannel('input', { ordered: true });
    this.channel = dc;
    dc.onMessage.subscribe((m) => this.onInput(m));
    pc.connectionStateChange.subscribe((s) => {
      if (this.pc !== pc) return;
      this.log(`arena: connection ${s}`);
      if (s === 'connected') {
        if (this.lostTimer) clearTimeout(this.lostTimer);
        this.lostTimer = null;
        this.disarmIdle();
        if (!this.loop) this.startStream();
      } else if (s === 'disconnected') {
        // a hiccup, or the player left: wait before calling it over
        this.lostTimer ??= setTimeout(
          () => this.playerLeft('connection lost'),
          this.opts.lostAfterMs ?? 8000,
        );
      } else if (s === 'failed' || s === 'closed') this.playerLeft(`connection ${s}`);
    });
    dc.stateChanged.subscribe((s) => {
      if (s === 'closed' && this.pc === pc) this.playerLeft('the player closed the session');
    });
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    await waitGathered(pc);
    const icePort = this.opts.icePort;
    if (icePort) {
      // werift takes the next port of its range when this one is taken: that one is not forwarded
      const ports = candidatePorts(pc.localDescription!.sdp);
      if (ports.some((p) => p !== icePort)) {
        await this.closePeer();
        throw new PortTakenError(
          `UDP port ${icePort} (the one media goes through) is taken by another process; no session was started`,
        );
      }
    }
    this.log(`arena: session ${id.slice(0, 8)} offered (${resolution}, ${this.videoEncoder} ${kbps} kbit/s)`);
    return { session: id, offer: { type: 'offer', sdp: pc.localDescription!.sdp } };
  }

  private onInput(m: string | Buffer) {
    if (typeof m !== 'string' || m.length > 256) return;
    let v: unknown;
    try {
      v = JSON.parse(m);
    } catch {
      return;
    }
    if (!isGameInput(v) || this.pending.length >= 64) return;
    this.pending.push(
      v.px !== undefined && v.py !== undefined
        ? { seq: v.seq, keys: v.keys, px: v.px, py: v.py }
        : { seq: v.seq, keys: v.keys },
    );
    if (!this.traces.has(v.seq)) {
      this.traces.set(v.seq, { seq: v.seq, receivedAt: wallNow() });
      if (this.traces.size > TRACE_KEEP) this.traces.delete(this.traces.keys().next().value!);
    }
    if (this.tickMode === 'input') {
      this.pullWanted = true;
      this.pull();
    }
  }

  private startStream() {
    this.frame = 0;
    this.restartEncoder('start');
    this.clock = new TickClock(performance.now());
    this.schedule();
  }

  /** the next tick: at its slot, or as soon as the clock lets a waiting input pull it */
  private schedule() {
    if (this.loop) clearTimeout(this.loop);
    const c = this.clock!;
    const at = this.pullWanted ? c.earliest : c.due;
    this.loop = setTimeout(() => this.onTimer(), Math.max(0, at - performance.now()));
  }

  private onTimer() {
    const now = performance.now();
    const c = this.clock!;
    if (now >= c.due - 1) return this.runTick(); // the tick's own slot
    if (this.pullWanted && c.mayPull(now + 1) && !this.encoder?.encoding) return this.runTick();
    // (the encoder's next frame out pulls it sooner)
    this.loop = setTimeout(() => this.onTimer(), Math.max(0, c.due - now));
  }

  private runTick() {
    this.pullWanted = false;
    this.tick();
    this.clock!.ticked(performance.now());
    this.schedule();
  }

  /**
   * An input arrived: its tick runs now rather than at the next slot, when the clock allows it
   * (TickClock: else as soon as it does) and the encoder can take the frame at once (a frame
   * behind another waits for it, or is dropped when the pipe is full): else as soon as it can.
   */
  private pull() {
    if (!this.pullWanted || !this.loop || !this.clock) return;
    // (the encoder's next frame out, or its taking a frame, comes back here)
    if (this.encoder?.encoding) return;
    if (this.clock.mayPull(performance.now())) this.runTick();
    else this.schedule();
  }

  private tick() {
    const tickAt = wallNow();
    const inputs = this.pending;
    this.pending = [];
    const before = this.game.lastSeq;
    step(this.game, inputs);
    if (this.game.lastSeq !== before) this.inputs++;
    const t0 = performance.now();
    const g = this.canvas.getContext('2d');
    const frame = this.frame++;
    drawFrame(g, this.game, frame, this.width, this.height);
    const px = g.getImageData(0, 0, this.width, this.height).data;
    this.render.add(performance.now() - t0);
    this.rendered++;
    const renderedAt = wallNow();
    const applied: InputTrace[] = [];
    for (const i of inputs) {
      const t = this.traces.get(i.seq);
      if (t && t.tickAt === undefined) applied.push(Object.assign(t, { tickAt, renderedAt, frame }));
    }
    const buf = Buffer.from(px.buffer, px.byteOffset, px.byteLength);
    if (!this.encoder?.write(buf, frame)) {
      this.skipped++; // the encoder is behind: drop rather than queue (the next frame shows it)
      this.pendingApplied.push(...applied);
      if (this.pendingApplied.length > TRACE_KEEP) this.pendingApplied.splice(0, applied.length);
    } else if (applied.length || this.pendingApplied.length) {
      this.frameInputs.set(frame, [...this.pendingApplied, ...applied]);
      this.pendingApplied = [];
      if (this.frameInputs.size > 64) this.frameInputs.delete(this.frameInputs.keys().next().value!);
    }
  }

  private restartEncoder(why: string) {
    this.encoder?.stop();
    this.lastRestart = performance.now();
    if (why !== 'start') {
      this.restarts++;
      this.log(`arena: encoder restarted (${why}) at ${this.kbps} kbit/s`);
    }
    this.encoder = new Encoder(
      this.opts.ffmpeg ?? 'ffmpeg',
      this.videoEncoder,
      this.width,
      this.height,
      this.kbps,
      this.opts.threads ?? 1,
      this.rtpPort,
      this.log,
    );
    const enc = this.encoder;
    enc.onIdle = () => this.pull();
    enc.proc.on('exit', (code, signal) => {
      if (this.encoder === enc && !this.ended && signal !== 'SIGKILL') {
        this.log(`arena: the encoder exited (${code ?? signal}); starting a new one`);
        this.restartEncoder('encoder exit');
      }
    });
  }

  /** An RTP packet from the encoder: renumbered (so encoder restarts are seamless) and sent. */
  private onRtp(m: Buffer) {
    const enc = this.encoder;
    if (!enc || !this.track) return;
    let p: RtpPacket;
    try {
      p = RtpPacket.deSerialize(m);
    } catch {
      return;
    }
    const ts = p.header.timestamp;
    enc.ts0 ??= ts;
    // which frame this is (ffmpeg counts frames at 30 per second from its own origin), stamped with
    // the time it was rendered: the player's jitter estimate then sees when frames really were
    // made, skipped frames and encoder restarts included, and the stream stays one timeline
    const idx = Math.round(((ts - enc.ts0) >>> 0) / 3000);
    const at = enc.written[idx];
    if (at === undefined) return;
    p.header.timestamp = (this.tsOrigin + Math.round(at * 90)) >>> 0;
    p.header.sequenceNumber = this.outSeq = (this.outSeq + 1) & 0xffff;
    // a game, not a film: the player shows each frame as soon as it is decoded
    p.header.extensions = [{ id: PLAYOUT_DELAY_ID, payload: ZERO_PLAYOUT_DELAY }];
    this.bytes.push([performance.now(), m.length]);
    this.track.writeRtp(p);
    if (p.header.marker) {
      this.encode.add(performance.now() - at);
      this.encoded++;
      enc.inFlight = Math.max(0, enc.inFlight - 1);
      const frame = enc.frames[idx]!;
      const carried = this.frameInputs.get(frame);
      if (carried) {
        this.frameInputs.delete(frame);
        const sentAt = wallNow();
        for (const t of carried) Object.assign(t, { sentAt, frame });
      }
      this.pull();
    }
  }

  /**
   * Adaptive bitrate from the player's receiver reports: sustained loss steps the encoder's
   * bitrate down (a restart: libvpx in ffmpeg cannot change it on the fly), ten clean seconds
   * step it back up towards what the session asked for.
   */
  private adapt(lost: number) {
    this.loss = lost;
    const now = performance.now();
    if (lost > 0.05) {
      this.cleanSince = now;
      if (++this.lossyReports >= 2 && this.kbps > 300 && now - this.lastRestart > 2000) {
        this.lossyReports = 0;
        this.kbps = Math.max(300, Math.round(this.kbps * 0.7));
        this.restartEncoder(`loss ${(lost * 100).toFixed(0)}%`);
      }
    } else {
      this.lossyReports = 0;
      if (this.cleanSince === 0) this.cleanSince = now;
      if (this.kbps < this.maxKbps && now - this.cleanSince > 10_000 && now - this.lastRestart > 10_000) {
        this.cleanSince = now;
        this.kbps = Math.min(this.maxKbps, Math.round(this.kbps * 1.25));
        this.restartEncoder('no loss');
      }
    }
  }

  private playerLeft(why: string) {
    if (!this.pc) return;
    this.log(`arena: ${why}`);
    void this.closePeer();
    this.armIdle();
    this.opts.onEnd?.(why);
  }

  private closePeer(): Promise<void> {
    if (this.loop) clearTimeout(this.loop);
    this.loop = null;
    this.clock = null;
    this.pullWanted = false;
    if (this.lostTimer) clearTimeout(this.lostTimer);
    this.lostTimer = null;
    this.encoder?.stop();
    this.encoder = null;
    const pc = this.pc;
    this.pc = null;
    this.sessionId = null;
    this.channel = null;
    this.track = null;
    return pc ? pc.close().catch(() => {}) : Promise.resolve();
  }

  private armIdle() {
    this.disarmIdle();
    this.idleTimer = setTimeout(() => {
      this.log('arena: no player connected; ending');
      this.opts.onEnd?.('idle');
    }, this.opts.idleExitMs ?? 120_000);
    this.idleTimer.unref();
  }
  private disarmIdle() {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  async stop(): Promise<void> {
    this.ended = true;
    this.disarmIdle();
    await this.closePeer();
    this.rtp?.close();
    this.rtp = null;
    const s = this.server;
    this.server = null;
    if (s) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }
}

/** An SDP answer worth handing to the WebRTC stack: a session with ICE credentials, a DTLS fingerprint and the video. */
function looksLikeAnswer(sdp: string): boolean {
  return (
    /^v=0\r?\n/.test(sdp) &&
    /^a=ice-ufrag:\S+\r?$/m.test(sdp) &&
    /^a=fingerprint:sha-\d+ [0-9A-Fa-f:]+\r?$/m.test(sdp) &&
    /^m=video /m.test(sdp)
  );
}

const TRACE_KEEP = 256;

/**
 * WebRTC's playout-delay RTP header extension: min and max delay (12 bits each, 10 ms units) the
 * receiver may hold a frame before showing it. 0/0: none, show each frame as it is decoded (the
 * receiver otherwise adds its jitter estimate and a render delay: ~35 ms per frame measured in
 * Chromium on the development VM).
 */
const PLAYOUT_DELAY_URI = 'http://www.webrtc.org/experiments/rtp-hdrext/playout-delay';
const PLAYOUT_DELAY_ID = 6;
const ZERO_PLAYOUT_DELAY = Buffer.alloc(3);

/** wall-clock ms with sub-ms precision (what a browser's `performance.timeOrigin + now()` gives) */
function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

class BodyError extends Error {}
class PortTakenError extends Error {}

/** the ports of an SDP's ICE candidates (`a=candidate:<foundation> <component> <proto> <priority> <address> <port> …`) */
export function candidatePorts(sdp: string): number[] {
  return [...sdp.matchAll(/^a=candidate:\S+ \d+ \S+ \d+ \S+ (\d+) /gm)].map((m) => Number(m[1]));
}

async function jsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > 64 * 1024) throw new BodyError('too large');
    chunks.push(c as Buffer);
  }
  try {
    return n ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
  } catch {
    throw new BodyError('not JSON');
  }
}

function waitGathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, 3000);
    pc.iceGatheringStateChange.subscribe((s) => {
      if (s === 'complete') {
        clearTimeout(t);
        resolve();
      }
    });
  });
}
