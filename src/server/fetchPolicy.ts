// SSRF-safe fetching of client-named media URLs: http(s) only, every address a name resolves to is checked (private,
// loopback, link-local, ULA, CGNAT, IPv4-mapped, multicast, reserved are refused), the socket is pinned to a checked
// address, redirects are followed by hand and checked again, and the whole fetch has a byte and a time limit.

import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

export type FetchFailure = 'invalid_url' | 'scheme' | 'credentials' | 'dns' | 'blocked_address' | 'redirects' | 'http_status' | 'too_large' | 'timeout' | 'network';

/** Why a remote fetch was refused or failed; `code` tells the caller what to answer (413 for too_large, 403, …). */
export class FetchPolicyError extends Error {
  constructor(
    message: string,
    readonly code: FetchFailure,
  ) {
    super(message);
    this.name = 'FetchPolicyError';
  }
}

export interface FetchPolicy {
  /** Largest body accepted, in bytes (declared or streamed). */
  readonly maxBytes: number;
  /** Deadline for the whole fetch: DNS, connects, redirects and body. */
  readonly timeoutMs: number;
  /** Redirects followed (each re-checked); default 3. */
  readonly maxRedirects?: number;
  /** Name resolution (tests inject one); default: every A/AAAA record from the system resolver. */
  readonly resolve?: (host: string) => Promise<string[]>;
  /** Address filter (tests inject one); default isBlockedAddress. */
  readonly isBlocked?: (address: string) => boolean;
}

export interface FetchResult {
  readonly bytes: Uint8Array;
  readonly contentType: string | null;
  /** The URL the bytes came from, after redirects. */
  readonly url: string;
}

// --- addresses -------------------------------------------------------------------------------------------------

type Cidr = readonly [bytes: readonly number[], bits: number];

const V4_BLOCKED: readonly Cidr[] = [
  [[0, 0, 0, 0], 8], // "this network"
  [[10, 0, 0, 0], 8], // private
  [[100, 64, 0, 0], 10], // carrier-grade NAT
  [[127, 0, 0, 0], 8], // loopback
  [[169, 254, 0, 0], 16], // link-local (cloud metadata lives at 169.254.169.254)
  [[172, 16, 0, 0], 12], // private
  [[192, 0, 0, 0], 24], // IETF protocol assignments
  [[192, 0, 2, 0], 24], // documentation
  [[192, 88, 99, 0], 24], // 6to4 relay anycast
  [[192, 168, 0, 0], 16], // private
  [[198, 18, 0, 0], 15], // benchmarking
  [[198, 51, 100, 0], 24], // documentation
  [[203, 0, 113, 0], 24], // documentation
  [[224, 0, 0, 0], 4], // multicast
  [[240, 0, 0, 0], 4], // reserved and broadcast
];

// IPv6: only global unicast (2000::/3) is allowed at all, which already excludes ::1, ::, IPv4-mapped ::ffff:0:0/96,
// NAT64 64:ff9b::/96, ULA fc00::/7, link-local fe80::/10, site-local fec0::/10 and multicast ff00::/8. Within it:
const V6_BLOCKED: readonly Cidr[] = [
  [[0x20, 0x01, 0x00, 0x00], 23], // IETF protocol assignments (Teredo 2001::/32 tunnels to any IPv4)
  [[0x20, 0x01, 0x0d, 0xb8], 32], // documentation
  [[0x20, 0x02], 16], // 6to4 (embeds any IPv4, private ones included)
  [[0x3f, 0xff, 0x00], 20], // documentation (2024)
];

function inCidr(addr: readonly number[], [net, bits]: Cidr): boolean {
  for (let i = 0; i < bits; i += 8) {
    const take = Math.min(8, bits - i);
    const mask = (0xff << (8 - take)) & 0xff;
    if (((addr[i / 8] ?? 0) & mask) !== ((net[i / 8] ?? 0) & mask)) return false;
  }
  return true;
}

function parseV4(s: string): number[] {
  return s.split('.').map(Number);
}

/** 16 bytes of an IPv6 address (zone id dropped, embedded dotted quad allowed). Assumes net.isIPv6(s). */
export function parseV6(s: string): number[] {
  const noZone = s.split('%')[0];
  let tail: number[] = [];
  let head = noZone;
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(noZone);
  if (quad) {
    tail = parseV4(quad[1]);
    head = noZone.slice(0, -quad[1].length);
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const [l, r] = head.includes('::') ? head.split('::') : [head, null];
  const left = groups(l);
  const right = r === null ? [] : groups(r);
  const fill = 8 - tail.length / 2 - left.length - right.length;
  const words = [...left, ...Array(r === null ? 0 : fill).fill(0), ...right];
  const out: number[] = [];
  for (const w of words) out.push(w >> 8, w & 0xff);
  return [...out, ...tail];
}

/** True for any address a server should not fetch from on a client's behalf. Non-IP strings count as blocked. */
export function isBlockedAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) {
    const b = parseV4(address);
    return V4_BLOCKED.some((c) => inCidr(b, c));
  }
  if (family === 6) {
    const b = parseV6(address);
    if ((b[0] & 0xe0) !== 0x20) return true; // outside 2000::/3
    return V6_BLOCKED.some((c) => inCidr(b, c));
  }
  return true;
}

// --- fetching --------------------------------------------------------------------------------------------------

async function systemResolve(host: string): Promise<string[]> {
  const r = await dns.promises.lookup(host, { all: true, verbatim: true });
  return r.map((a) => a.address);
}

const hostOf = (u: URL) => (u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname);

/** `p`, or the signal's abort, whichever comes first (a system DNS lookup cannot itself be cancelled). */
function orAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** The checked addresses of a URL's host: every one must pass (a name with one private record is refused). */
async function checkedAddresses(u: URL, policy: FetchPolicy, signal: AbortSignal): Promise<string[]> {
  const host = hostOf(u);
  const blocked = policy.isBlocked ?? isBlockedAddress;
  let addrs: string[];
  if (net.isIP(host)) addrs = [host];
  else {
    try {
      addrs = await orAbort((policy.resolve ?? systemResolve)(host), signal);
    } catch (e) {
      if (signal.aborted) throw e;
      throw new FetchPolicyError(`cannot resolve ${host}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'dns');
    }
    if (addrs.length === 0) throw new FetchPolicyError(`cannot resolve ${host}: no addresses`, 'dns');
  }
  const bad = addrs.find((a) => blocked(a));
  if (bad !== undefined) {
    throw new FetchPolicyError(`refusing to fetch ${u.protocol}//${u.host}: it resolves to ${bad}, a private, loopback, link-local or reserved address`, 'blocked_address');
  }
  return addrs;
}

function checkUrl(raw: string | URL): URL {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new FetchPolicyError(`not a valid URL: ${String(raw).slice(0, 200)}`, 'invalid_url');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new FetchPolicyError(`only http and https URLs can be fetched (got ${u.protocol})`, 'scheme');
  // Credentials in a URL would be sent to whatever host the URL names; nothing legitimate needs them here.
  if (u.username || u.password) throw new FetchPolicyError('URLs with credentials are refused', 'credentials');
  return u;
}

interface Hop {
  readonly status: number;
  readonly location: string | null;
  readonly contentType: string | null;
  readonly bytes: Uint8Array | null;
}

/** One request, its socket pinned to `address` (already checked), the connected peer checked once more. */
function request(u: URL, address: string, policy: FetchPolicy, signal: AbortSignal): Promise<Hop> {
  const blocked = policy.isBlocked ?? isBlockedAddress;
  const family = net.isIP(address);
  const lookup = (_host: string, opts: { all?: boolean }, cb: (...a: unknown[]) => void) => {
    if (opts?.all) cb(null, [{ address, family }]);
    else cb(null, address, family);
  };
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise<Hop>((resolve, reject) => {
    const fail = (e: Error) => {
      req.destroy();
      reject(e);
    };
    const req = mod.request(
      u,
      {
        method: 'GET',
        agent: false,
        lookup: lookup as unknown as net.LookupFunction,
        signal,
        // No content coding: the byte limit then applies to what we keep, and no decompression bomb can unfold.
        headers: { 'accept-encoding': 'identity', 'user-agent': 'qwen3-vl-server', accept: 'image/*, video/*, */*;q=0.5' },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const contentType = typeof res.headers['content-type'] === 'string' ? res.headers['content-type'] : null;
        if (status >= 300 && status < 400) {
          res.resume();
          resolve({ status, location: typeof res.headers.location === 'string' ? res.headers.location : null, contentType, bytes: null });
          return;
        }
        if (status < 200 || status >= 300) {
          res.resume();
          resolve({ status, location: null, contentType, bytes: null });
          return;
        }
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > policy.maxBytes) {
          fail(new FetchPolicyError(`${u.host} declares ${declared} bytes, over the ${policy.maxBytes}-byte limit`, 'too_large'));
          return;
        }
        const parts: Buffer[] = [];
        let total = 0;
        res.on('data', (c: Buffer) => {
          total += c.length;
          if (total > policy.maxBytes) fail(new FetchPolicyError(`${u.host} sent more than the ${policy.maxBytes}-byte limit`, 'too_large'));
          else parts.push(c);
        });
        res.on('end', () => resolve({ status, location: null, contentType, bytes: new Uint8Array(Buffer.concat(parts)) }));
        res.on('error', (e) => fail(e));
        res.on('aborted', () => fail(new FetchPolicyError(`${u.host} closed the connection early`, 'network')));
      },
    );
    req.on('socket', (s: net.Socket) => {
      s.once('connect', () => {
        // Belt and braces: the peer we actually reached must itself pass the filter.
        if (s.remoteAddress && blocked(s.remoteAddress)) fail(new FetchPolicyError(`connected to ${s.remoteAddress}, a blocked address`, 'blocked_address'));
      });
    });
    req.on('error', (e) => reject(e));
    req.end();
  });
}

/**
 * Fetch a client-named URL under the policy. Throws FetchPolicyError for every refusal or failure; an abort of the
 * caller's `signal` surfaces as an AbortError (the client went away), the policy's own deadline as code 'timeout'.
 */
export async function safeFetch(url: string, policy: FetchPolicy, signal?: AbortSignal): Promise<FetchResult> {
  const deadline = AbortSignal.timeout(policy.timeoutMs);
  const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
  const maxRedirects = policy.maxRedirects ?? 3;
  let u = checkUrl(url);
  try {
    for (let hop = 0; ; hop++) {
      const addrs = await checkedAddresses(u, policy, combined);
      combined.throwIfAborted();
      const r = await request(u, addrs[0], policy, combined);
      if (r.bytes) return { bytes: r.bytes, contentType: r.contentType, url: u.href };
      if (r.status >= 300 && r.status < 400 && r.location !== null) {
        if (hop >= maxRedirects) throw new FetchPolicyError(`more than ${maxRedirects} redirects`, 'redirects');
        u = checkUrl(new URL(r.location, u));
        continue;
      }
      throw new FetchPolicyError(`${u.host} answered HTTP ${r.status}`, 'http_status');
    }
  } catch (e) {
    if (e instanceof FetchPolicyError) throw e;
    if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : Object.assign(new Error('the client went away'), { name: 'AbortError' });
    if (deadline.aborted) throw new FetchPolicyError(`fetching ${u.host} took longer than ${policy.timeoutMs} ms`, 'timeout');
    throw new FetchPolicyError(`fetching ${u.host} failed: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'network');
  }
}
