/**
 * A queue only the producer can steer: with OVERMAP_JOB_SECRET set, the producer signs each
 * job, each listing chunk and run.json with HMAC-SHA256 over their canonical JSON, and
 * workers refuse anything unsigned or altered. OVERMAP_ALLOWED_PREFIXES bounds the dataset
 * and results URIs a worker will touch at all. The secret itself is never written anywhere.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { canonicalUri } from './storage/open-store';
import { InputError } from './errors';

/** JSON with object keys sorted at every depth: the bytes that are signed. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** The HMAC of an object without its own `sig` field, as hex. */
export function signatureOf(obj: Record<string, unknown>, secret: string): string {
  const { sig: _ignored, ...rest } = obj;
  return createHmac('sha256', secret).update(canonicalJson(rest)).digest('hex');
}

export function sign<T extends Record<string, unknown>>(obj: T, secret: string | undefined): T {
  return secret ? { ...obj, sig: signatureOf(obj, secret) } : obj;
}

/** True when `obj.sig` is the HMAC of the rest of `obj` under `secret` (constant-time compare). */
export function verify(obj: Record<string, unknown>, secret: string): boolean {
  const sig = obj.sig;
  if (typeof sig !== 'string' || !/^[0-9a-f]{64}$/.test(sig)) return false;
  return timingSafeEqual(Buffer.from(sig, 'hex'), Buffer.from(signatureOf(obj, secret), 'hex'));
}

/** OVERMAP_ALLOWED_PREFIXES: comma-separated URI prefixes; empty = anything. */
export function parseAllowedPrefixes(list: string | undefined): string[] {
  return (list ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((p) => canonicalUri(p));
}

/** Refuses a URI outside every allowed prefix (InputError: never retried). */
export function checkAllowed(uri: string, allowed: string[], what: string): void {
  if (allowed.length === 0) return;
  const u = canonicalUri(uri);
  if (!allowed.some((p) => u.startsWith(p))) {
    throw new InputError(`${what} ${uri} is outside OVERMAP_ALLOWED_PREFIXES (${allowed.join(', ')}): refused`);
  }
}
