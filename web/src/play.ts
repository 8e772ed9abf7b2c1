// Play: a game rendered on a host near the player, streamed into a <video> over WebRTC, driven by
// the keyboard, measured the way game streaming is judged (input-to-photon latency, read back from
// the marker band the game draws into every frame). `#/play/<game>?near=Paris, FR&maxLatency=40`;
// `&local=1` runs the same game in this page instead: the latency floor the stream is compared to.
import { CITIES } from '../../src/core/geo.js';
import { estimateRttMs } from '../../src/core/latency.js';
import {
  ARENA_H,
  ARENA_W,
  gamepadKeys,
  KEY,
  newArena,
  step,
  TickClock,
  type GameInput,
} from '../../src/gaming/arena.js';
import { bandHeight, drawFrame, readMarker, seqAtLeast, type Marker } from '../../src/gaming/render.js';
import { api, ApiError, chainId, get, send } from './api.js';
import { signLeaseToken, type BrowserKey } from './keys.js';
import { heldOffer, openLease, receipts, showCostWhenClosed } from './session.js';
import { ath, card, errorBox, field, formActions, h, link, myKey } from './ui.js';

const KEYMAP: Record<string, number> = {
  ArrowUp: KEY.up,
  KeyW: KEY.up,
  ArrowDown: KEY.down,
  KeyS: KEY.down,
  ArrowLeft: KEY.left,
  KeyA: KEY.left,
  ArrowRight: KEY.right,
  KeyD: KEY.right,
};
/** a session's longest run (escrow covers it; the unused part is refunded) */
const MAX_SESSION_SEC = 3600;

/** One input's way through the page, wall-clock ms: sent, its frame received / presented / read back. */
export interface PageTrace {
  seq: number;
  sentAt: number;
  shownAt: number;
  receivedAt?: number;
  presentedAt?: number;
  decodeMs?: number;
}

/** What the page measures: shown live, and read by the bench (window.__aethirPlay). */
class Meter {
  readonly latencies: number[] = [];
  /** each measured input's way (window.__aethirPlay.trace) */
  readonly trace: PageTrace[] = [];
  private sent = new Map<number, number>();
  private frames: number[] = [];
  seq = 0;
  keys = 0;
  marker: Marker | null = null;
  /** an input was sent: remember when */
  input(seq: number, at: number) {
    this.sent.set(seq, at);
  }
  /** a frame was shown, saying the last input applied: every input it covers has arrived */
  shown(m: Marker, at: number, meta?: VideoFrameCallbackMetadata) {
    this.marker = m;
    this.frames.push(at);
    while (this.frames.length && at - this.frames[0]! > 1000) this.frames.shift();
    // every input this frame covers counts, an earlier one applied in the same tick included
    const wall = (t: number | undefined) => (t === undefined ? undefined : performance.timeOrigin + t);
    for (const [seq, t] of this.sent)
      if (seqAtLeast(m.seq, seq & 0xffff)) {
        this.latencies.push(at - t);
        this.sent.delete(seq);
        this.trace.push({
          seq,
          sentAt: wall(t)!,
          shownAt: wall(at)!,
          receivedAt: wall(meta?.receiveTime),
          presentedAt: wall(meta?.presentationTime),
          decodeMs: meta?.processingDuration === undefined ? undefined : meta.processingDuration * 1000,
        });
        if (this.trace.length > 500) this.trace.shift();
      }
  }
  fps() {
    return this.frames.length;
  }
  p(q: number, last = 200): number | null {
    const xs = this.latencies.slice(-last).sort((a, b) => a - b);
    return xs.length ? xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]! : null;
  }
}

export async function playPage(root: HTMLElement, game: string | undefined) {
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const key = await myKey();
  const apps: Array<{ name: string; description?: string }> = (await get('/v1/apps')).apps ?? [];
  const gameSel = h(
    'select',
    { name: 'game' },
    ...apps.map((a) => h('option', { value: a.name, selected: a.name === (game ?? 'arena') }, a.name)),
  );
  const near = h('input', { name: 'near', placeholder: 'e.g. Paris, FR', value: params.get('near') ?? '' });
  const maxLatency = h('input', {
    name: 'maxLatency',
    type: 'number',
    min: '1',
    max: '10000',
    value: params.get('maxLatency') ?? '40',
  });
  const res = h(
    'select',
    { name: 'resolution' },
    ...['720p', '540p', '360p'].map((r) =>
      h('option', { value: r, selected: r === params.get('resolution') }, r),
    ),
  );
  const answer = h('div', { class: 'answer', 'aria-live': 'polite', 'data-testid': 'play-answer' });
  const submit = h('button', { type: 'submit', 'data-testid': 'play-submit', disabled: !key }, 'Play');
  const form = h(
    'form',
    { class: 'grid-form', 'data-testid': 'play-form' },
    field('Game', gameSel),
    field('Where you are', near),
    field('Max latency (ms)', maxLatency),
    field('Resolution', res),
    formActions(submit, !!key),
  );
  const screen = h('div', { class: 'game-screen', 'data-testid': 'game-screen' });
  const stats = h('dl', { class: 'game-stats', 'data-testid': 'game-stats' });
  const status = h('div', { class: 'lease-status', 'aria-live': 'polite', 'data-testid': 'play-status' });
  root.append(card('Play a game', form, answer), card('Game', status, screen, stats));

  // `tick=fixed`: inputs wait for the next tick on the 30 Hz grid instead of pulling it forward
  // (TickClock); what the bench compares with
  const tick = params.get('tick') === 'fixed' ? 'fixed' : 'input';
  // `codec=vp8|h264`: the video codec (default: H.264 on the host's NVIDIA encoder where it has one, else VP8)
  const codecParam = params.get('codec');
  const codec = codecParam === 'vp8' || codecParam === 'h264' ? codecParam : 'auto';
  if (params.get('local') === '1') return localGame(screen, stats, status, tick);

  const request = () => ({
    user: key?.address ?? 'ath1' + '0'.repeat(40),
    gpus: 0,
    app: gameSel.value,
    strategy: 'best-experience',
    ...(near.value.trim() ? { location: near.value.trim() } : {}),
    ...(near.value.trim() && Number(maxLatency.value) > 0 ? { maxLatencyMs: Number(maxLatency.value) } : {}),
  });
  let offer: { request: string; match: any } | null = null;
  let seq = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const preview = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const r = JSON.stringify(request());
      const mine = ++seq;
      let body: HTMLElement;
      try {
        const m = await matchExplained(JSON.parse(r), near.value.trim());
        if (mine !== seq) return;
        offer = { request: r, match: m };
        body = h(
          'p',
          { class: 'ok', 'data-testid': 'play-match' },
          h('strong', {}, 'Host: '),
          hostLine(m, near.value),
        );
      } catch (e) {
        if (mine !== seq) return;
        offer = null;
        body =
          e instanceof TooFar ? e.explain((ms) => ((maxLatency.value = String(ms)), preview())) : errorBox(e);
      }
      answer.replaceChildren(body);
    }, 300);
  };
  form.addEventListener('input', preview);
  preview();

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!key) return;
    submit.disabled = true;
    try {
      const req = request();
      const held = heldOffer(offer, req) ?? (await matchExplained(req, near.value.trim()));
      offer = null;
      await play(
        key,
        held,
        gameSel.value,
        res.value,
        screen,
        stats,
        status,
        params.get('renderer'),
        tick,
        codec,
      );
    } catch (err) {
      status.replaceChildren(err instanceof TooFar ? err.explain(null) : errorBox(err));
    } finally {
      submit.disabled = false; // the session is over: another may start
    }
  });
}

/** NO_MATCH because every host is too far: which host is nearest, and its estimated RTT. */
class TooFar extends Error {
  constructor(
    readonly bound: number,
    readonly nearest: any,
    readonly rttMs: number,
    readonly place: string,
  ) {
    super(`no host within ${bound} ms`);
  }
  explain(apply: ((ms: number) => void) | null): HTMLElement {
    const c = this.nearest?.container;
    return h(
      'div',
      { class: 'why-not', 'data-testid': 'why-not' },
      h(
        'p',
        {},
        h('strong', {}, 'No host close enough. '),
        `No host with this game is within ${this.bound} ms of ${this.place}.`,
      ),
      h(
        'p',
        { 'data-testid': 'nearest-host' },
        c
          ? `The nearest is ${c.name} in ${c.location.city}, ${c.location.country}: about ${this.rttMs} ms round trip.`
          : `The nearest host is about ${this.rttMs} ms away.`,
      ),
      apply
        ? h(
            'button',
            { type: 'button', class: 'small', 'data-testid': 'relax', onclick: () => apply(this.rttMs) },
            `Play there anyway (${this.rttMs} ms)`,
          )
        : null,
    );
  }
}

async function matchExplained(req: any, place: string): Promise<any> {
  try {
    return await api('POST', '/v1/match', req);
  } catch (e) {
    const relax = e instanceof ApiError && e.code === 'NO_MATCH' ? (e.details?.relaxations ?? []) : [];
    const r = relax.find((x: any) => x.constraint === 'maxLatencyMs' && typeof x.value === 'number');
    if (!r) throw e;
    const nearest = await api('POST', '/v1/match', { ...req, maxLatencyMs: r.value }).catch(() => null);
    const rtt = nearest ? (rttFrom(place, nearest.container) ?? r.value) : r.value;
    throw new TooFar(req.maxLatencyMs, nearest, rtt, place);
  }
}

/** The estimated RTT from a place the console knows (CITIES) to a container, or null. */
function rttFrom(place: string, c: any): number | null {
  const [city, country] = place.split(',').map((s) => s.trim().toLowerCase());
  const p = CITIES.find(
    (x) => x.city.toLowerCase() === city && (!country || x.country.toLowerCase() === country),
  );
  const loc = c?.location;
  if (!p || typeof loc?.lat !== 'number' || typeof loc?.lon !== 'number') return null;
  return Math.round(estimateRttMs(p, loc));
}

function hostLine(m: any, place: string): string {
  const c = m.container;
  const rtt = place ? rttFrom(place, c) : null;
  return `${c.name} in ${c.location.city}, ${c.location.country}${rtt !== null ? `, about ${rtt} ms away` : ''} at ${ath(c.pricePerHour, 4)}/h`;
}

function statsView(stats: HTMLElement, items: Array<[string, string, string]>) {
  stats.replaceChildren(
    ...items.flatMap(([label, id, v]) => [h('dt', {}, label), h('dd', { 'data-testid': id }, v)]),
  );
}

/**
 * Keyboard, mouse and touch -> inputs, each stamped for the meter. An input goes out on every
 * change: of the keys held, or of where a pointer (a mouse button, a finger, a pen) is held on the
 * game (`surface`), in game units; the player heads for a held pointer while no key is held.
 */
function controls(meter: Meter, sendInput: (i: GameInput) => boolean, surface: HTMLElement): () => void {
  let keys = 0;
  /** the keys held on gamepads (d-pad or left stick), read at every rendering step once one is connected */
  let pad = 0;
  let padLoop = 0;
  let pointer: { id: number; x: number; y: number } | null = null;
  const emit = () => {
    const held = keys | pad;
    const i: GameInput = pointer
      ? { seq: ++meter.seq, keys: held, px: pointer.x, py: pointer.y }
      : { seq: ++meter.seq, keys: held };
    meter.keys = held;
    const at = performance.now();
    if (sendInput(i)) meter.input(i.seq, at); // (not yet connected: nothing to measure)
  };
  const on = (down: boolean) => (e: KeyboardEvent) => {
    const bit = KEYMAP[e.code];
    if (!bit || (e.target as HTMLElement)?.closest?.('input,select,textarea')) return;
    e.preventDefault();
    const next = down ? keys | bit : keys & ~bit;
    if (next === keys) return;
    keys = next;
    emit();
  };
  const kd = on(true);
  const ku = on(false);
  const at = (e: PointerEvent) => arenaPoint(surface, e.clientX, e.clientY);
  const pdown = (e: PointerEvent) => {
    if (pointer || (e.pointerType === 'mouse' && e.button !== 0)) return;
    e.preventDefault();
    surface.setPointerCapture?.(e.pointerId);
    pointer = { id: e.pointerId, ...at(e) };
    emit();
  };
  const pmove = (e: PointerEvent) => {
    if (!pointer || e.pointerId !== pointer.id) return;
    const p = at(e);
    if (p.x === pointer.x && p.y === pointer.y) return;
    pointer = { ...pointer, ...p };
    emit();
  };
  const pup = (e: PointerEvent) => {
    if (!pointer || e.pointerId !== pointer.id) return;
    pointer = null;
    emit();
  };
  const readPads = () => {
    const next = gamepadKeys(gamepads());
    if (next !== pad) {
      pad = next;
      emit();
    }
    padLoop = requestAnimationFrame(readPads);
  };
  const padOn = () => {
    if (!padLoop) padLoop = requestAnimationFrame(readPads);
  };
  window.addEventListener('gamepadconnected', padOn);
  if (gamepads().some((p) => p)) padOn();
  window.addEventListener('keydown', kd);
  window.addEventListener('keyup', ku);
  surface.addEventListener('pointerdown', pdown);
  surface.addEventListener('pointermove', pmove);
  surface.addEventListener('pointerup', pup);
  surface.addEventListener('pointercancel', pup);
  const noMenu = (e: Event) => e.preventDefault();
  surface.addEventListener('contextmenu', noMenu);
  return () => {
    cancelAnimationFrame(padLoop);
    window.removeEventListener('gamepadconnected', padOn);
    window.removeEventListener('keydown', kd);
    window.removeEventListener('keyup', ku);
    surface.removeEventListener('pointerdown', pdown);
    surface.removeEventListener('pointermove', pmove);
    surface.removeEventListener('pointerup', pup);
    surface.removeEventListener('pointercancel', pup);
    surface.removeEventListener('contextmenu', noMenu);
  };
}

/** The connected gamepads ([] where the page may not read them: a permissions policy says no). */
function gamepads(): Array<Gamepad | null> {
  try {
    return navigator.getGamepads?.() ?? [];
  } catch {
    return [];
  }
}

/**
 * A point on the game's picture, in game units: a video shows its frames letterboxed inside its
 * box (object-fit: contain), a canvas fills its box.
 */
function arenaPoint(el: HTMLElement, clientX: number, clientY: number) {
  const r = el.getBoundingClientRect();
  let [left, top, w, h] = [r.left, r.top, r.width, r.height];
  if (el instanceof HTMLVideoElement && el.videoWidth && el.videoHeight) {
    const scale = Math.min(r.width / el.videoWidth, r.height / el.videoHeight);
    w = el.videoWidth * scale;
    h = el.videoHeight * scale;
    left += (r.width - w) / 2;
    top += (r.height - h) / 2;
  }
  const clamp = (v: number, hi: number) => Math.min(hi, Math.max(0, Math.round(v)));
  return {
    x: clamp(((clientX - left) / Math.max(1, w)) * ARENA_W, ARENA_W),
    y: clamp(((clientY - top) / Math.max(1, h)) * ARENA_H, ARENA_H),
  };
}

function expose(meter: Meter, extra: () => Record<string, unknown>) {
  (window as any).__aethirPlay = {
    latencies: meter.latencies,
    trace: meter.trace,
    marker: () => meter.marker,
    stats: () => ({ fps: meter.fps(), p50: meter.p(0.5), p99: meter.p(0.99), ...extra() }),
  };
}

async function play(
  key: BrowserKey,
  m: any,
  game: string,
  resolution: string,
  screen: HTMLElement,
  stats: HTMLElement,
  status: HTMLElement,
  renderer: string | null = null,
  tick: 'input' | 'fixed' = 'input',
  codec: 'auto' | 'vp8' | 'h264' = 'auto',
) {
  const say = (s: string) => status.append(h('p', {}, s));
  // `renderer=canvas`: decoded frames drawn into a canvas by this page (MediaStreamTrackProcessor),
  // bypassing the <video> element's path to the screen; measured against it by the bench
  const Processor = (window as any).MediaStreamTrackProcessor as
    (new (o: { track: MediaStreamTrack }) => { readable: ReadableStream<VideoFrame> }) | undefined;
  const onCanvas = renderer === 'canvas' && Processor !== undefined;
  status.replaceChildren();
  const c = m.container;
  say(`Matched ${c.name} in ${c.location.city}, ${c.location.country}.`);
  const { leaseId } = await openLease(key, m, { gpus: 0 }, { app: game }, MAX_SESSION_SEC, say);
  const state = h('span', { 'data-testid': 'lease-state' }, 'starting');
  const stop = h('button', { type: 'button', class: 'danger', 'data-testid': 'play-stop' }, 'End session');
  status.append(h('p', {}, 'Lease ', link(`#/explorer/${leaseId}`, leaseId), ' — ', state, ' ', stop));
  const view = await get(`/v1/leases/${leaseId}`);
  const token = await signLeaseToken(key, await chainId(), leaseId, MAX_SESSION_SEC * 1000);
  const auth = { authorization: `Bearer ${token}` };
  const call = async (path: string, body: unknown) => {
    const r = await fetch(`/v1/leases/${leaseId}/gaming/${path}`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (r.status === 204) return null;
    const j = await r.json().catch(() => ({}));
    if (!r.ok)
      throw new ApiError(j?.error?.code ?? `HTTP_${r.status}`, j?.error?.message ?? `HTTP ${r.status}`);
    return j;
  };
  // the host starts with the lease: ask until it answers
  let session: any;
  for (let i = 0; ; i++) {
    try {
      session = await call('session', { resolution, tick, codec });
      break;
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 'UNAVAILABLE') || i > 60) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const pc = new RTCPeerConnection();
  const video = h('video', {
    autoplay: true,
    muted: true,
    playsinline: true,
    ...(onCanvas ? {} : { 'data-testid': 'game-video' }),
  });
  video.muted = true;
  const picture = onCanvas
    ? h('canvas', { 'data-testid': 'game-video', width: '1280', height: '720' })
    : video;
  screen.replaceChildren(
    picture,
    h(
      'p',
      { class: 'hint' },
      'Arrow keys, WASD or a gamepad (d-pad or left stick) move, or hold the mouse or a finger where the player should go; collect the yellow orbs, dodge the red drones.',
    ),
  );
  const meter = new Meter();
  let channel: RTCDataChannel | null = null;
  pc.ondatachannel = (e) => (channel = e.channel);
  pc.ontrack = (e) => {
    // a game, not a film: play each frame as soon as it is decoded (no jitter buffer to smooth with)
    const r = e.receiver as RTCRtpReceiver & { jitterBufferTarget?: number; playoutDelayHint?: number };
    if ('jitterBufferTarget' in r) r.jitterBufferTarget = 0;
    if ('playoutDelayHint' in r) r.playoutDelayHint = 0;
    if (onCanvas) void drawFrames(new Processor!({ track: e.track }).readable);
    else video.srcObject = new MediaStream([e.track]);
  };
  // each decoded frame drawn at once; its photon is the next rendering step, as for the local game
  const drawFrames = async (frames: ReadableStream<VideoFrame>) => {
    const c = picture as HTMLCanvasElement;
    const g2 = c.getContext('2d', { willReadFrequently: true })!;
    const reader = frames.getReader();
    for (;;) {
      const { value: frame, done } = await reader.read();
      if (done) return;
      const [w, ht] = [frame.displayWidth, frame.displayHeight];
      if (c.width !== w || c.height !== ht) [c.width, c.height] = [w, ht];
      g2.drawImage(frame, 0, 0);
      frame.close();
      const mk = readMarker(g2.getImageData(0, 0, w, bandHeight(ht)).data, w, ht);
      if (mk)
        paintAfter(performance.now(), (now) => {
          meter.shown(mk, now);
          Object.assign(c.dataset, { frame: mk.frame, seq: mk.seq, x: mk.x, y: mk.y });
        });
    }
  };
  await pc.setRemoteDescription(session.offer);
  await pc.setLocalDescription(await pc.createAnswer());
  await new Promise<void>((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
    setTimeout(resolve, 2000);
  });
  await call(`session/${session.session}/answer`, { type: 'answer', sdp: pc.localDescription!.sdp });
  state.textContent = 'connecting';
  const unkey = controls(
    meter,
    (i) => {
      if (channel?.readyState !== 'open') return false;
      channel.send(JSON.stringify(i));
      return true;
    },
    picture,
  );

  // every frame shown: read the marker band back from it
  const band = document.createElement('canvas');
  const g = band.getContext('2d', { willReadFrequently: true })!;
  // the photon: the rendering step in which the frame is first shown (the callback's `now`, as the
  // local game's requestAnimationFrame time), not when this page has read the band back
  const onFrame = (now: number, meta: VideoFrameCallbackMetadata) => {
    const w = video.videoWidth;
    const ht = video.videoHeight;
    if (w && ht) {
      const bh = bandHeight(ht);
      if (band.width !== w || band.height !== bh) [band.width, band.height] = [w, bh];
      g.drawImage(video, 0, 0, w, bh, 0, 0, w, bh);
      const mk = readMarker(g.getImageData(0, 0, w, bh).data, w, ht);
      if (mk) {
        meter.shown(mk, now, meta);
        video.dataset.frame = String(mk.frame);
        video.dataset.seq = String(mk.seq);
        video.dataset.x = String(mk.x);
        video.dataset.y = String(mk.y);
      }
    }
    video.requestVideoFrameCallback(onFrame);
  };
  if (!onCanvas) video.requestVideoFrameCallback(onFrame);

  let rtt: number | null = null;
  let kbps = 0;
  let lastBytes: [number, number] | null = null;
  let decodedFps = 0;
  const poll = setInterval(async () => {
    const r = await pc.getStats();
    r.forEach((s: any) => {
      if (
        s.type === 'candidate-pair' &&
        s.nominated &&
        s.state === 'succeeded' &&
        s.currentRoundTripTime !== undefined
      )
        rtt = s.currentRoundTripTime * 1000;
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        decodedFps = s.framesPerSecond ?? 0;
        if (lastBytes) kbps = ((s.bytesReceived - lastBytes[1]) * 8) / (s.timestamp - lastBytes[0]);
        lastBytes = [s.timestamp, s.bytesReceived];
      }
    });
    const p50 = meter.p(0.5);
    statsView(stats, [
      ['Round trip', 'stat-rtt', rtt === null ? '—' : `${rtt.toFixed(1)} ms`],
      ['Frames per second', 'stat-fps', String(meter.fps())],
      ['Input to photon (p50)', 'stat-latency', p50 === null ? 'press a key' : `${p50.toFixed(0)} ms`],
      [
        'Input to photon (p99)',
        'stat-latency-p99',
        meter.p(0.99) === null ? '—' : `${meter.p(0.99)!.toFixed(0)} ms`,
      ],
      ['Bitrate', 'stat-bitrate', `${Math.round(kbps)} kbit/s`],
      [
        'Resolution',
        'stat-resolution',
        onCanvas
          ? `${(picture as HTMLCanvasElement).width}×${(picture as HTMLCanvasElement).height}`
          : video.videoWidth
            ? `${video.videoWidth}×${video.videoHeight}`
            : '—',
      ],
    ]);
  }, 1000);
  // the codec the host offered (VP8, or H.264 from NVENC or libx264)
  const videoCodec = /a=rtpmap:\d+ (VP8|H264)\/90000/.exec(String(session.offer?.sdp))?.[1] ?? 'unknown';
  expose(meter, () => ({ rtt, kbps, decodedFps, lease: leaseId, codec: videoCodec }));

  // a receipt every 2 s: the host is paid for nearly every second played, even if the tab just closes
  const billing = receipts(
    key,
    leaseId,
    view.openedAt,
    () => {
      // the round trip (what a receipt's latency is), frames shown in the last second and the
      // input-to-photon median of the last 50 inputs: what the player got, signed
      const p50 = meter.p(0.5, 50);
      return {
        ok: meter.fps() > 0,
        fps: meter.fps(),
        ...(rtt !== null ? { latencyMs: Math.round(rtt) } : {}),
        ...(p50 !== null ? { inputToPhotonMs: Math.round(p50) } : {}),
      };
    },
    2000,
  );
  void billing.send();
  // closing the tab ends the session: the host sees the peer go, ends, and the lease closes
  const end = () => {
    channel?.close();
    pc.close();
  };
  window.addEventListener('pagehide', end);
  await new Promise<void>((resolve) => {
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'connected') state.textContent = 'playing';
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed') resolve();
    });
    stop.addEventListener('click', () => {
      stop.setAttribute('disabled', '');
      resolve();
    });
    window.addEventListener('hashchange', () => resolve(), { once: true });
  });
  await billing.send();
  billing.stop();
  clearInterval(poll);
  unkey();
  end();
  window.removeEventListener('pagehide', end);
  state.textContent = 'ended';
  stop.setAttribute('disabled', '');
  // the host ends when the player leaves; closing the lease as well makes it so at once
  await send(key, 'lease.close', { lease: leaseId, reason: 'the player ended the session' }).catch(
    () => undefined,
  );
  await showCostWhenClosed(leaseId, status);
}

/**
 * The photon of something drawn at `drawnAt`: the first rendering step that begins after it. A
 * rendering step's time (requestAnimationFrame's `now`) is when it began, and one that began before
 * the drawing (the drawing ran inside it: an input handler's tick) shows it only at its end, the
 * next step's beginning.
 */
function paintAfter(drawnAt: number, shown: (now: number) => void) {
  requestAnimationFrame((now) => (now >= drawnAt ? shown(now) : requestAnimationFrame(shown)));
}

/** The same game in this page, no network: the floor a streamed session is measured against. */
function localGame(
  screen: HTMLElement,
  stats: HTMLElement,
  status: HTMLElement,
  tickMode: 'input' | 'fixed',
) {
  status.replaceChildren(
    h('p', {}, 'Local mode: the game runs in this page (the latency floor of a stream).'),
  );
  const canvas = h('canvas', { width: '1280', height: '720', 'data-testid': 'game-canvas' });
  screen.replaceChildren(canvas);
  const g = canvas.getContext('2d')!;
  const game = newArena('arena');
  const meter = new Meter();
  let pending: GameInput[] = [];
  // the same clock as the host's: an input pulls the next tick forward (unless tick=fixed)
  const clock = new TickClock(performance.now());
  let timer: ReturnType<typeof setTimeout> | undefined;
  const unkey = controls(
    meter,
    (i) => {
      pending.push(i);
      if (tickMode === 'input') {
        clearTimeout(timer);
        // now (after this handler), or as soon as the game is no longer a tick ahead
        if (clock.mayPull(performance.now())) queueMicrotask(tick);
        else timer = setTimeout(tick, Math.max(0, clock.earliest - performance.now()));
      }
      return true;
    },
    canvas,
  );
  let frame = 0;
  let shown = false; // the page is put on screen after this returns
  const tick = () => {
    clearTimeout(timer);
    if (canvas.isConnected) shown = true;
    else if (shown) return unkey();
    step(game, pending);
    pending = [];
    drawFrame(g, game, frame, 1280, 720);
    const mk = { frame: frame++, seq: game.lastSeq, x: game.player.x, y: game.player.y };
    // the photon: the next paint after the frame was drawn
    paintAfter(performance.now(), (now) => meter.shown(mk, now));
    clock.ticked(performance.now());
    timer = setTimeout(tick, Math.max(0, clock.due - performance.now()));
  };
  tick();
  expose(meter, () => ({ local: true }));
  const poll = setInterval(() => {
    if (shown && !canvas.isConnected) return clearInterval(poll);
    const p50 = meter.p(0.5);
    statsView(stats, [
      ['Frames per second', 'stat-fps', String(meter.fps())],
      ['Input to photon (p50)', 'stat-latency', p50 === null ? 'press a key' : `${p50.toFixed(0)} ms`],
    ]);
  }, 1000);
}
