// Media policy for server requests: data URLs pass; http(s) only when enabled (fetched here); local paths and
// file:// only inside an allowed folder (checked here). The processor then reads only data URLs, checked paths and
// the request's own temporary files, never a client-chosen location.

import { randomBytes } from 'node:crypto';
import { mkdtemp, realpath, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiError, type MediaRef, type WireMessage, type WirePart } from './protocol.js';

export interface MediaPolicy {
  /** Fetch http(s) URLs (off by default: it lets clients make the server issue requests). */
  readonly allowRemote: boolean;
  /** Folders whose files requests may name (absolute paths or file:// URLs); empty = none. */
  readonly allowedDirs: readonly string[];
  /** Largest single media file, in bytes. */
  readonly maxBytes: number;
  readonly fetchTimeoutMs?: number;
}

export interface ResolvedMessages {
  /** The processor's content-part form of the messages. */
  readonly messages: unknown[];
  /** Remove the request's temporary files (video bytes the processor needs as files); call when generation ends. */
  cleanup(): Promise<void>;
}

type Kind = 'image' | 'video';

/**
 * Media references become what the processor reads: images as data URLs, allowed local files as their resolved
 * path, video bytes (data URLs, downloads) as a temporary file, since video decoding (ffmpeg) needs a file.
 */
export async function resolveMessages(messages: readonly WireMessage[], policy: MediaPolicy, signal?: AbortSignal): Promise<ResolvedMessages> {
  const dirs = await Promise.all(policy.allowedDirs.map((d) => realpath(d)));
  let tmp: string | null = null;
  const cleanup = async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  };
  const spill = async (bytes: Uint8Array) => {
    tmp ??= await mkdtemp(path.join(os.tmpdir(), 'qwen3vl-media-'));
    const file = path.join(tmp, `video-${randomBytes(6).toString('hex')}`);
    await writeFile(file, bytes);
    return file;
  };
  const resolve = (r: MediaRef, kind: Kind) => resolveMedia(r, kind, policy, dirs, spill, signal);
  try {
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
  const frames = await Promise.all(part.video.map((f) => resolve(f, 'image')));
  // A frame list's fps is its native rate (for timestamps), not a sampling rate: it belongs to the list.
  const video = part.fps === undefined && !part.timestamps ? frames : { frames, ...(part.fps !== undefined && { fps: part.fps }), ...(part.timestamps && { timestamps: part.timestamps }) };
  return { type: 'video', video, ...px };
}

async function resolveMedia(ref: MediaRef, kind: Kind, policy: MediaPolicy, dirs: readonly string[], spill: (b: Uint8Array) => Promise<string>, signal?: AbortSignal): Promise<string> {
  const { url, param } = ref;
  const tooLarge = () => new ApiError(413, `'${param}' is larger than the ${mb(policy.maxBytes)} media limit`, param, 'media_too_large');
  if (/^data:/i.test(url)) {
    const m = /^data:[\w.+-]+\/[\w.+-]+(?:;[\w=.+-]+)*;base64,/i.exec(url);
    if (!m) throw new ApiError(400, `'${param}' is not a base64 data URL (expected data:<mime>;base64,...)`, param, 'invalid_data_url');
    if ((url.length - m[0].length) * 0.75 > policy.maxBytes) throw tooLarge();
    return kind === 'image' ? url : spill(Buffer.from(url.slice(m[0].length), 'base64'));
  }
  if (/^https?:/i.test(url)) {
    if (!policy.allowRemote) throw new ApiError(400, `remote URLs are disabled on this server ('${param}'); send a data URL, or start the server with --allow-remote-media`, param, 'remote_media_disabled');
    const bytes = await fetchMedia(url, param, policy, signal);
    return kind === 'image' ? toDataUrl(bytes) : spill(bytes);
  }
  // A scheme other than file: is refused; a Windows drive letter (C:\…) is a path, not a scheme.
  if (/^[a-z][a-z0-9+.-]*:/i.test(url) && !/^file:/i.test(url) && !/^[a-z]:[\\/]/i.test(url)) {
    throw new ApiError(400, `'${param}' uses an unsupported URL scheme (expected data:, http(s): or file:)`, param, 'unsupported_url');
  }
  if (dirs.length === 0) throw new ApiError(400, `local files are disabled on this server ('${param}'); send a data URL, or start the server with --allowed-dir DIR`, param, 'local_media_disabled');
  let file: string;
  try {
    file = /^file:/i.test(url) ? fileURLToPath(url) : path.resolve(dirs[0], url);
  } catch {
    throw new ApiError(400, `'${param}' is not a valid file URL`, param, 'invalid_url');
  }
  // realpath first, so a symlink inside the folder cannot point outside it.
  let real: string;
  try {
    real = await realpath(file);
  } catch {
    throw new ApiError(400, `'${param}': no such file under the allowed folders`, param, 'file_not_found');
  }
  if (!dirs.some((d) => real === d || real.startsWith(d + path.sep))) throw new ApiError(403, `'${param}' is outside the allowed folders`, param, 'path_not_allowed');
  const st = await stat(real);
  if (!st.isFile()) throw new ApiError(400, `'${param}' is not a file`, param, 'file_not_readable');
  if (st.size > policy.maxBytes) throw tooLarge();
  return real;
}

async function fetchMedia(url: string, param: string, policy: MediaPolicy, signal?: AbortSignal): Promise<Uint8Array> {
  const timeout = AbortSignal.timeout(policy.fetchTimeoutMs ?? 30_000);
  let res: Response;
  try {
    res = await fetch(url, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout, redirect: 'follow' });
  } catch (e) {
    throw new ApiError(400, `could not fetch '${param}': ${(e as Error).message}`, param, 'fetch_failed');
  }
  if (!res.ok || !res.body) throw new ApiError(400, `could not fetch '${param}': HTTP ${res.status}`, param, 'fetch_failed');
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > policy.maxBytes) throw new ApiError(413, `'${param}' is larger than the ${mb(policy.maxBytes)} media limit`, param, 'media_too_large');
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > policy.maxBytes) throw new ApiError(413, `'${param}' is larger than the ${mb(policy.maxBytes)} media limit`, param, 'media_too_large');
    parts.push(chunk);
  }
  return Buffer.concat(parts);
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
