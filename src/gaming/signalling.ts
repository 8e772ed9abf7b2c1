import { z } from 'zod';

/**
 * The game-session signalling bodies, as the API node checks them and the game host takes them
 * (src/api/routes/gaming.ts, src/gaming/host.ts).
 */
export const RESOLUTIONS = { '360p': [640, 360], '540p': [960, 540], '720p': [1280, 720] } as const;
export type Resolution = keyof typeof RESOLUTIONS;

export const SessionRequest = z
  .object({
    resolution: z.enum(Object.keys(RESOLUTIONS) as [Resolution, ...Resolution[]]).default('720p'),
    /** starting video bitrate, kbit/s */
    bitrateKbps: z.number().int().min(200).max(20_000).default(2500),
    /**
     * `input` (the default): an input pulls the next tick forward, to when it arrives (TickClock);
     * `fixed`: inputs wait for the next tick on the 30 Hz grid (what the bench compares with)
     */
    tick: z.enum(['input', 'fixed']).default('input'),
    /**
     * the video codec: `auto` (the default) is H.264 on the host's NVIDIA encoder (NVENC) where
     * it has one that works, VP8 otherwise; `vp8` or `h264` (NVENC where it works, libx264 if not)
     */
    codec: z.enum(['auto', 'vp8', 'h264']).default('auto'),
  })
  .strict();

export const AnswerBody = z
  .object({
    type: z.literal('answer'),
    sdp: z
      .string()
      .min(10)
      .max(64 * 1024),
  })
  .strict();
