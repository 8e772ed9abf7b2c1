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

export function canonicalize(value: unknown): string {
  return write(value);
}

function write(v: unknown): string {
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
    case 'object': {
      if (Array.isArray(v)) return `[${v.map(write).join(',')}]`;
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${write(obj[k])}`).join(',')}}`;
    }
    default:
      throw new AethirError('INVALID_ARGUMENT', `cannot encode a value of type ${typeof v}`);
  }
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
