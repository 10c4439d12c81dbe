// Media policy for server requests: data URLs pass; http(s) only when enabled, fetched here under the SSRF policy
// (fetchPolicy.ts); local paths and file:// only inside an allowed folder, read here (pathPolicy.ts). The processor
// then reads only data URLs and the request's own temporary files, never a location a client chose.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FetchPolicyError, safeFetch, type FetchPolicy } from './fetchPolicy.js';
import { PathPolicyError, readAllowedFile, realAllowedDirs } from './pathPolicy.js';
import { ApiError, type MediaRef, type WireMessage, type WirePart } from './protocol.js';

export interface MediaPolicy {
  /** Fetch http(s) URLs (off by default: it lets clients make the server issue requests). */
  readonly allowRemote: boolean;
  /** Folders whose files requests may name (absolute paths or file:// URLs); empty = none. */
  readonly allowedDirs: readonly string[];
  /** Largest single media file, in bytes. */
  readonly maxBytes: number;
  /** Bytes one request may bring in by URL or path, all media together (default: unlimited beyond maxBytes each). */
  readonly maxTotalBytes?: number;
  readonly fetchTimeoutMs?: number;
  /** Overrides of the fetch policy (tests inject a resolver and an address filter). */
  readonly fetch?: Partial<Pick<FetchPolicy, 'resolve' | 'isBlocked' | 'maxRedirects'>>;
}

export interface ResolvedMessages {
  /** The processor's content-part form of the messages. */
  readonly messages: unknown[];
  /** Remove the request's temporary files (video bytes the processor needs as files); call when generation ends. */
  cleanup(): Promise<void>;
}

type Kind = 'image' | 'video';

interface Budget {
  used: number;
}

/**
 * Media references become what the processor reads: images as data URLs, video bytes (data URLs, downloads,
 * allowed local files) as a temporary file, since video decoding (ffmpeg) needs a file.
 */
export async function resolveMessages(messages: readonly WireMessage[], policy: MediaPolicy, signal?: AbortSignal): Promise<ResolvedMessages> {
  let tmp: string | null = null;
  const cleanup = async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  };
  const spill = async (bytes: Uint8Array) => {
    tmp ??= await mkdtemp(path.join(os.tmpdir(), 'qwen3vl-media-'));
    const file = path.join(tmp, `video-${randomBytes(6).toString('hex')}`);
    await writeFile(file, bytes, { mode: 0o600 });
    return file;
  };
  try {
    const dirs = policy.allowedDirs.length ? await realAllowedDirs(policy.allowedDirs) : [];
    const budget: Budget = { used: 0 };
    const resolve = (r: MediaRef, kind: Kind) => resolveMedia(r, kind, policy, dirs, spill, budget, signal);
    const out: unknown[] = [];
    for (const m of messages) {
      const content: unknown[] = [];
      for (const part of m.content) content.push(await resolvePart(part, resolve));
      const msg: Record<string, unknown> = { role: m.role, content };
      if (m.toolCalls?.length) msg.tool_calls = m.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
      if (m.toolCallId !== undefined) msg.tool_call_id = m.toolCallId;
      if (m.reasoningContent !== undefined) msg.reasoning_content = m.reasoningContent;
      out.push(msg);
    }
    return { messages: out, cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** One part in the processor's form (chat/messages.ts): camelCase pixel bounds, frame lists with fps/timestamps. */
async function resolvePart(part: WirePart, resolve: (r: MediaRef, kind: Kind) => Promise<string>): Promise<unknown> {
  if (part.type === 'text') return part;
  const px = { ...(part.minPixels !== undefined && { minPixels: part.minPixels }), ...(part.maxPixels !== undefined && { maxPixels: part.maxPixels }) };
  if (part.type === 'image') return { type: 'image', image: await resolve(part.image, 'image'), ...px };
  if (!Array.isArray(part.video)) return { type: 'video', video: await resolve(part.video as MediaRef, 'video'), ...px };
  // One frame at a time: a list of remote frames must not become hundreds of simultaneous fetches.
  const frames: string[] = [];
  for (const f of part.video) frames.push(await resolve(f, 'image'));
  // A frame list's fps is its native rate (for timestamps), not a sampling rate: it belongs to the list.
  const video = part.fps === undefined && !part.timestamps ? frames : { frames, ...(part.fps !== undefined && { fps: part.fps }), ...(part.timestamps && { timestamps: part.timestamps }) };
  return { type: 'video', video, ...px };
}

const PATH_STATUS: Record<PathPolicyError['code'], [number, string]> = {
  disabled: [400, 'local_media_disabled'],
  invalid: [400, 'invalid_url'],
  not_found: [400, 'file_not_found'],
  outside: [403, 'path_not_allowed'],
  not_file: [400, 'file_not_readable'],
  too_large: [413, 'media_too_large'],
};

async function resolveMedia(ref: MediaRef, kind: Kind, policy: MediaPolicy, dirs: readonly string[], spill: (b: Uint8Array) => Promise<string>, budget: Budget, signal?: AbortSignal): Promise<string> {
  const { url, param } = ref;
  const tooLarge = () => new ApiError(413, `'${param}' is larger than the ${mb(policy.maxBytes)} media limit`, param, 'media_too_large');
  // Bytes a request brings in by reference count against one budget, so a thousand URLs cannot fill memory.
  const spend = (bytes: Uint8Array) => {
    budget.used += bytes.byteLength;
    if (policy.maxTotalBytes !== undefined && budget.used > policy.maxTotalBytes) {
      throw new ApiError(413, `the media of this request exceed ${mb(policy.maxTotalBytes)} in total`, param, 'media_too_large');
    }
    return bytes;
  };
  if (/^data:/i.test(url)) {
    const m = /^data:[\w.+-]+\/[\w.+-]+(?:;[\w=.+-]+)*;base64,/i.exec(url);
    if (!m) throw new ApiError(400, `'${param}' is not a base64 data URL (expected data:<mime>;base64,...)`, param, 'invalid_data_url');
    if ((url.length - m[0].length) * 0.75 > policy.maxBytes) throw tooLarge();
    return kind === 'image' ? url : spill(Buffer.from(url.slice(m[0].length), 'base64'));
  }
  if (/^https?:/i.test(url)) {
    if (!policy.allowRemote) throw new ApiError(400, `remote URLs are disabled on this server ('${param}'); send a data URL, or start the server with --allow-remote-media`, param, 'remote_media_disabled');
    const bytes = spend(await fetchMedia(url, param, policy, signal));
    return kind === 'image' ? toDataUrl(bytes) : spill(bytes);
  }
  // A scheme other than file: is refused; a Windows drive letter (C:\…) is a path, not a scheme.
  if (/^[a-z][a-z0-9+.-]*:/i.test(url) && !/^file:/i.test(url) && !/^[a-z]:[\\/]/i.test(url)) {
    throw new ApiError(400, `'${param}' uses an unsupported URL scheme (expected data:, http(s): or file:)`, param, 'unsupported_url');
  }
  if (dirs.length === 0) throw new ApiError(400, `local files are disabled on this server ('${param}'); send a data URL, or start the server with --allowed-dir DIR`, param, 'local_media_disabled');
  try {
    // Read once, here: the processor gets the bytes, so the file cannot be swapped between check and use.
    const file = await readAllowedFile(url, dirs, policy.maxBytes);
    const bytes = spend(file.bytes);
    return kind === 'image' ? toDataUrl(bytes) : spill(bytes);
  } catch (e) {
    if (!(e instanceof PathPolicyError)) throw e;
    const [status, code] = PATH_STATUS[e.code];
    throw new ApiError(status, `'${param}': ${e.message}`, param, code);
  }
}

async function fetchMedia(url: string, param: string, policy: MediaPolicy, signal?: AbortSignal): Promise<Uint8Array> {
  try {
    const r = await safeFetch(url, { maxBytes: policy.maxBytes, timeoutMs: policy.fetchTimeoutMs ?? 30_000, ...policy.fetch }, signal);
    return r.bytes;
  } catch (e) {
    if (!(e instanceof FetchPolicyError)) throw e;
    if (e.code === 'too_large') throw new ApiError(413, `'${param}' is larger than the ${mb(policy.maxBytes)} media limit`, param, 'media_too_large');
    if (e.code === 'blocked_address' || e.code === 'scheme' || e.code === 'credentials') throw new ApiError(403, `'${param}': ${e.message}`, param, 'url_not_allowed');
    throw new ApiError(400, `could not fetch '${param}': ${e.message}`, param, 'fetch_failed');
  }
}

const mb = (n: number) => `${Math.round(n / 1e6)} MB`;

/** A data URL for bytes, with the MIME type sniffed from the magic number (the processor decodes by content). */
export function toDataUrl(bytes: Uint8Array): string {
  return `data:${sniffMime(bytes)};base64,${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}`;
}

export function sniffMime(b: Uint8Array): string {
  const ascii = (a: number, n: number) => String.fromCharCode(...b.subarray(a, a + n));
  if (b[0] === 0x89 && ascii(1, 3) === 'PNG') return 'image/png';
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (ascii(0, 4) === 'GIF8') return 'image/gif';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 4) === 'WEBP') return 'image/webp';
  if (ascii(0, 2) === 'BM') return 'image/bmp';
  if (ascii(4, 4) === 'ftyp') return 'video/mp4';
  if (b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return 'video/webm';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 4) === 'AVI ') return 'video/x-msvideo';
  return 'application/octet-stream';
}
