import { AethirError } from './errors.js';

/* No Node built-ins here: the browser console (web/) signs with these same bytes. */

/**
 * Canonical, deterministic encoding: JSON with object keys sorted, no whitespace, bigint
 * written as a decimal string with an `n` suffix so it can never be mistaken for a plain
 * string on decode (strings that start with `#` or `\\` are escaped with a `\\`). Two nodes that hold equal values produce identical bytes, which is what
 * signatures and the state root are computed over.
 */
export type Canonical =
  | null
  | boolean
  | number
  | string
  | bigint
  | readonly Canonical[]
  | { readonly [k: string]: Canonical | undefined };

/**
 * The deepest nesting canonicalize encodes (arrays and objects inside one another). Far above
 * anything the ledger holds, far below what would exhaust memory; a value nested deeper (or one
 * that contains itself) is a clean INVALID_ARGUMENT, never a stack overflow: the encoder walks
 * with its own stack, not the call stack.
 */
export const MAX_CANONICAL_DEPTH = 1000;

type Frame =
  { arr: readonly unknown[]; i: number } | { obj: Record<string, unknown>; keys: string[]; i: number };

export function canonicalize(value: unknown): string {
  const out: string[] = [];
  const stack: Frame[] = [];
  // Writes a scalar, or opens a frame for an array or object (its items follow, in order).
  const open = (v: unknown): void => {
    if (v === null || typeof v !== 'object') return void out.push(scalar(v));
    if (stack.length >= MAX_CANONICAL_DEPTH)
      throw new AethirError(
        'INVALID_ARGUMENT',
        `value nests deeper than ${MAX_CANONICAL_DEPTH} levels (or contains itself) and cannot be encoded`,
      );
    if (Array.isArray(v)) {
      out.push('[');
      stack.push({ arr: v, i: 0 });
    } else {
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      out.push('{');
      stack.push({ obj, keys, i: 0 });
    }
  };
  open(value);
  while (stack.length) {
    const f = stack[stack.length - 1]!;
    if ('arr' in f) {
      if (f.i === f.arr.length) {
        out.push(']');
        stack.pop();
        continue;
      }
      if (f.i > 0) out.push(',');
      open(f.arr[f.i++]);
    } else {
      if (f.i === f.keys.length) {
        out.push('}');
        stack.pop();
        continue;
      }
      const k = f.keys[f.i++]!;
      out.push(`${f.i > 1 ? ',' : ''}${JSON.stringify(k)}:`);
      open(f.obj[k]);
    }
  }
  return out.join('');
}

function scalar(v: unknown): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(v))
        throw new AethirError('INVALID_ARGUMENT', 'non-finite number cannot be encoded');
      return JSON.stringify(v);
    case 'string':
      return JSON.stringify(v.startsWith('#') || v.startsWith('\\') ? `\\${v}` : v);
    case 'bigint':
      return `"#${v.toString()}"`;
    default:
      throw new AethirError('INVALID_ARGUMENT', `cannot encode a value of type ${typeof v}`);
  }
}

/**
 * How deeply `value` nests (a scalar: 0, `[]` or `{}`: 1), counted without recursion and without
 * walking past `limit` + 1: so checking an attacker's body costs O(size), never the call stack.
 */
export function jsonDepth(value: unknown, limit = Infinity): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    const depth = d + 1;
    if (depth > max) max = depth;
    if (depth > limit) return depth;
    for (const child of Array.isArray(v) ? v : Object.values(v as object)) stack.push([child, depth]);
  }
  return max;
}

/** Inverse of canonicalize: "#123" becomes a bigint again, escaped strings are unescaped. */
export function decodeCanonical<T = unknown>(text: string): T {
  return JSON.parse(text, (_k, val) => {
    if (typeof val !== 'string') return val;
    if (val.startsWith('#')) return BigInt(val.slice(1));
    if (val.startsWith('\\')) return val.slice(1);
    return val;
  }) as T;
}

/** JSON for humans and HTTP clients: bigints become plain decimal strings. */
export function toJsonSafe(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(toJsonSafe);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toJsonSafe(v);
    return out;
  }
  return value;
}
