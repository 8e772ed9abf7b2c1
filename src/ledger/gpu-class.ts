/* No imports: the browser console (web/) classifies GPUs with this very table. */

/**
 * GPU classes of the stake table (Aethir's K-value per GPU class). A container's class list
 * comes from its GPU models (`gpuClass`); a host without GPUs stakes as `cpu`.
 */
export const GPU_CLASSES = ['cpu', 'h200', 'h100', 'a100', 'l40s', 'rtx4090', 'rtx3090', 'other'] as const;
export type GpuClass = (typeof GPU_CLASSES)[number];

const CLASS_PATTERNS: Array<[RegExp, GpuClass]> = [
  [/\b(h200|gh200|b200|b100|gb200)\b/i, 'h200'],
  [/\bh100\b|\bh800\b/i, 'h100'],
  [/\ba100\b|\ba800\b/i, 'a100'],
  [/\bl40s?\b|\bl4\b|\ba10g?\b|\ba40\b|\brtx (a6000|6000)/i, 'l40s'],
  [/\b4090\b|\b5090\b|\b4080\b/i, 'rtx4090'],
  [/\b3090\b|\b3080\b|\ba5000\b|\ba4000\b/i, 'rtx3090'],
];

export function gpuClass(model: string): GpuClass {
  for (const [re, cls] of CLASS_PATTERNS) if (re.test(model)) return cls;
  return 'other';
}
