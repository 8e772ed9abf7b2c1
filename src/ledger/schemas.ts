import { z } from 'zod';
import { isAddress } from '../core/keys.js';

/**
 * The wire's primitive types, shared by every module's payloads: amounts travel as decimal
 * strings of units (the ledger holds them as bigints).
 */
export const Address = z.string().refine(isAddress, 'must be an address (ath1 + 40 hex)');
export const Units = z
  .string()
  .regex(/^\d{1,40}$/, 'must be a non-negative integer string of units')
  .transform((s) => BigInt(s));
export const PositiveUnits = Units.refine((v) => v > 0n, 'must be greater than zero');
export const Id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be an id of letters, digits, _ or -');
