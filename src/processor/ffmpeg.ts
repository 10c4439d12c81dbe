// Video files through the ffmpeg/ffprobe binaries (QWEN3VL_FFMPEG/QWEN3VL_FFPROBE, else the npm-installed
// @ffmpeg-installer/@ffprobe-installer packages, else PATH). Only the selected frames leave ffmpeg, as rgb24,
// and each is handed to a callback as it arrives, so a long video never sits in memory.

import { nodeImport } from '../io/source.js';
import { VideoDecodeError } from '../errors.js';

type NodeModule = typeof import('node:module');
// Node built-ins load lazily (browser bundles include this module but never run it). ffmpegPath() is synchronous:
// process.getBuiltinModule where Node has it (20.16+), else the require made once node:module has loaded.
const proc = globalThis.process as (NodeJS.Process & { getBuiltinModule?: (id: string) => unknown }) | undefined;
let requireFn: NodeJS.Require | null = null;
const nodeReady: Promise<void> | null = proc?.versions?.node
  ? nodeImport<NodeModule>('node:module').then((m) => {
      requireFn = m.createRequire(import.meta.url);
    })
  : null;
nodeReady?.catch(() => {});

function fromPackage(pkg: string): string | null {
  try {
    requireFn ??= (proc?.getBuiltinModule?.('node:module') as NodeModule | undefined)?.createRequire(import.meta.url) ?? null;
    const p = (requireFn?.(pkg) as { path?: string } | undefined)?.path;
    return typeof p === 'string' ? p : null;
  } catch {
    return null;
  }
}

export function ffmpegPath(): string {
  return process.env.QWEN3VL_FFMPEG ?? fromPackage('@ffmpeg-installer/ffmpeg') ?? 'ffmpeg';
}

export function ffprobePath(): string {
  return process.env.QWEN3VL_FFPROBE ?? fromPackage('@ffprobe-installer/ffprobe') ?? 'ffprobe';
}

export interface VideoProbe {
  /** Display size (after the rotation ffmpeg applies). */
  width: number;
  height: number;
  totalFrames: number;
  /** Native frame rate (average), frames per second. */
  fps: number;
}

interface RunResult {
  stdout: Buffer;
  stderr: string;
  code: number | null;
}

/** Run a binary with a time limit; never hangs past `timeoutMs`, and an abort of `signal` kills it at once. */
async function run(bin: string, args: string[], name: string, timeoutMs: number, onStdout?: (chunk: Buffer) => void, signal?: AbortSignal): Promise<RunResult> {
  if (!nodeReady) throw new VideoDecodeError(name, 'video files need Node (ffmpeg); in browsers pass the frames as images');
  const { spawn } = await nodeImport<typeof import('node:child_process')>('node:child_process');
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    let child;
    try {
      child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      reject(new VideoDecodeError(name, `cannot start ${bin}: ${(e as Error).message}`));
      return;
    }
    const out: Buffer[] = [];
    let err = '';
    let failure: Error | null = null;
    const timer = setTimeout(() => {
      failure = new VideoDecodeError(name, `${bin} did not finish within ${timeoutMs} ms`);
      child.kill('SIGKILL');
    }, timeoutMs);
    const onAbort = () => {
      failure ??= signal!.reason instanceof Error ? signal!.reason : new Error('aborted');
      child.kill('SIGKILL');
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (c: Buffer) => {
      if (failure) return;
      if (!onStdout) {
        out.push(c);
        return;
      }
      try {
        onStdout(c);
      } catch (e) {
        failure = e as Error;
        child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (c: Buffer) => {
      if (err.length < 8192) err += c.toString();
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      const hint = (e as NodeJS.ErrnoException).code === 'ENOENT' ? ' (install ffmpeg or set QWEN3VL_FFMPEG/QWEN3VL_FFPROBE)' : '';
      reject(new VideoDecodeError(name, `cannot run ${bin}: ${e.message}${hint}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (failure) reject(failure);
      else resolve({ stdout: Buffer.concat(out), stderr: err, code });
    });
  });
}

function rate(s: unknown): number {
  if (typeof s !== 'string') return NaN;
  const [a, b] = s.split('/').map(Number);
  return b ? a / b : a;
}

/** Size, frame count and frame rate of the first video stream. */
export async function probeVideo(file: string, name = file, timeoutMs = 120_000, signal?: AbortSignal): Promise<VideoProbe> {
  const args = ['-v', 'error', '-select_streams', 'v:0', '-count_packets', '-show_streams', '-of', 'json', file];
  await nodeReady;
  const r = await run(ffprobePath(), args, name, timeoutMs, undefined, signal);
  if (r.code !== 0) throw new VideoDecodeError(name, `unreadable video: ${r.stderr.trim().split('\n').pop() ?? 'ffprobe failed'}`);
  let stream: Record<string, unknown> | undefined;
  try {
    stream = (JSON.parse(r.stdout.toString()) as { streams?: Record<string, unknown>[] }).streams?.[0];
  } catch {
    throw new VideoDecodeError(name, 'ffprobe returned malformed output');
  }
  if (!stream) throw new VideoDecodeError(name, 'no video stream');
  let width = Number(stream.width);
  let height = Number(stream.height);
  if (!(width > 0) || !(height > 0)) throw new VideoDecodeError(name, `video stream has no size (${width}x${height})`);
  const sideData = (stream.side_data_list as { rotation?: number }[] | undefined) ?? [];
  const tags = (stream.tags as { rotate?: string } | undefined) ?? {};
  const rotation = Number(sideData.find((d) => d.rotation !== undefined)?.rotation ?? tags.rotate ?? 0);
  if (Math.abs(rotation) % 180 === 90) [width, height] = [height, width];
  const nbFrames = Number(stream.nb_frames);
  const totalFrames = nbFrames > 0 ? nbFrames : Number(stream.nb_read_packets);
  if (!(totalFrames > 0)) throw new VideoDecodeError(name, 'video has no frames');
  let fps = rate(stream.avg_frame_rate);
  if (!(fps > 0)) fps = rate(stream.r_frame_rate);
  if (!(fps > 0)) throw new VideoDecodeError(name, 'video frame rate is unknown');
  return { width, height, totalFrames, fps };
}

/**
 * Decode the frames at `indices` (ascending, 0-based decode order) as rgb24 and pass each to `onFrame` in order.
 * Fails if the stream ends before the last requested index.
 */
export async function decodeFrames(
  file: string,
  indices: readonly number[],
  width: number,
  height: number,
  onFrame: (k: number, rgb: Uint8Array) => void,
  name = file,
  timeoutMs = 600_000,
  signal?: AbortSignal,
): Promise<void> {
  const unique = [...new Set(indices)].sort((a, b) => a - b);
  const expr = unique.map((i) => `eq(n\\,${i})`).join('+');
  const args = ['-v', 'error', '-nostdin', '-i', file, '-map', '0:v:0', '-vf', `select='${expr}'`, '-vsync', '0', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
  const frameBytes = width * height * 3;
  let pending: Buffer = Buffer.alloc(0);
  let got = 0;
  await nodeReady;
  const r = await run(ffmpegPath(), args, name, timeoutMs, (chunk) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= frameBytes) {
      if (got >= unique.length) throw new VideoDecodeError(name, 'ffmpeg returned more frames than requested');
      onFrame(unique[got++], new Uint8Array(pending.subarray(0, frameBytes)));
      pending = pending.subarray(frameBytes);
    }
  }, signal);
  if (r.code !== 0) throw new VideoDecodeError(name, `decoding failed: ${r.stderr.trim().split('\n').pop() ?? 'ffmpeg error'}`);
  if (got < unique.length || pending.length) {
    throw new VideoDecodeError(name, `the container reports more frames than could be decoded (got ${got} of ${unique.length} sampled frames; truncated file?)`);
  }
}
