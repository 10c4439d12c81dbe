// API-key checks in constant time, and the bind rule: without a key the server binds only loopback addresses unless
// the operator says plainly that the network may use it unauthenticated.

import { createHash, timingSafeEqual } from 'node:crypto';
import net from 'node:net';

/** Environment variable read when --api-key is not given. */
export const API_KEY_ENV = 'QWEN3VL_API_KEY';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Whether an Authorization header carries `Bearer <key>`. Both sides are hashed first, so the comparison takes the
 * same time whatever the length or the position of the first wrong byte.
 */
export function apiKeyMatches(header: string | string[] | undefined, key: string): boolean {
  const value = Array.isArray(header) ? header[0] : header;
  if (typeof value !== 'string') return false;
  const m = /^\s*bearer\s+(.*?)\s*$/i.exec(value);
  const given = m ? m[1] : '';
  // Compare even when the scheme is wrong, so that case costs the same.
  const same = timingSafeEqual(digest(given), digest(key));
  return m !== null && same;
}

/** Loopback interfaces: 127.0.0.0/8, ::1, and the IPv4-mapped form of 127/8; 'localhost' by name. */
export function isLoopbackHost(host: string): boolean {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (h.toLowerCase() === 'localhost') return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) {
    const v = h.toLowerCase();
    return v === '::1' || v === '0:0:0:0:0:0:0:1' || /^(::ffff:|0:0:0:0:0:ffff:)127\./.test(v);
  }
  return false;
}

export class BindPolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BindPolicyError';
  }
}

/** Refuse to expose an unauthenticated server beyond this machine unless `insecureNoAuth` is set. */
export function checkBindPolicy(host: string, apiKey: string | undefined, insecureNoAuth: boolean): void {
  if (apiKey !== undefined && apiKey.length === 0) throw new BindPolicyError(`the API key is empty (check --api-key / $${API_KEY_ENV})`);
  if (apiKey || insecureNoAuth || isLoopbackHost(host)) return;
  throw new BindPolicyError(
    `refusing to listen on ${host} without an API key: anyone who can reach it could use the model. ` +
      `Set --api-key (or $${API_KEY_ENV}), bind 127.0.0.1, or pass --insecure-no-auth if the network is trusted`,
  );
}
