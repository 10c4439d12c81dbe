// `qwen3-vl serve`: the OpenAI-compatible server on one checkpoint, inference in a worker thread, every resource
// limit a flag (defaults in server/limits.ts); refuses to expose itself unauthenticated; drains on Ctrl-C / SIGTERM.

import type { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ChatServer } from '../server/app.js';
import { API_KEY_ENV, BindPolicyError, checkBindPolicy } from '../server/auth.js';
import { DEFAULT_LIMITS, PROMPT_CHARS_PER_TOKEN, type ServerLimits } from '../server/limits.js';
import { WorkerEngine } from '../server/workerEngine.js';
import { addModelOptions, addVisionCacheOption, CliError, collect, intArg, modelDir, numArg, servingFromFlags, type ModelFlags } from './common.js';
import { Progress } from './progress.js';
import { demoAssetsDir } from '../tools/demoModel.js';
import { DEMO_NOTE } from './run.js';

interface ServeFlags extends ModelFlags {
  host: string;
  port: number;
  modelId?: string;
  allowedDir: string[];
  allowRemoteMedia?: boolean;
  maxBody: number;
  maxMedia: number;
  maxImages: number;
  maxVideos: number;
  maxImagePixels: number;
  maxVideoSeconds: number;
  maxVideoFrames: number;
  maxPromptTokens: number;
  maxTokens: number;
  maxConcurrent?: number;
  maxQueue: number;
  requestTimeout: number;
  uploadTimeout: number;
  fetchTimeout: number;
  shutdownGrace: number;
  apiKey?: string;
  insecureNoAuth?: boolean;
  quiet?: boolean;
}

const D = DEFAULT_LIMITS;

export function registerServe(program: Command): void {
  const cmd = program
    .command('serve')
    .summary('OpenAI-compatible HTTP server (chat completions, SSE streaming)')
    .description(
      'Serve one checkpoint over the OpenAI chat-completions API: POST /v1/chat/completions (streaming or not), GET /v1/models, GET /health, GET /metrics. ' +
        'Requests run one at a time in arrival order; the model runs in a worker thread so the server stays responsive.',
    )
    .option('--host <host>', 'interface to bind (0.0.0.0 exposes it to the network)', '127.0.0.1')
    .option('-p, --port <port>', 'TCP port (0 picks a free one)', intArg(0, 65535), 8000)
    .option('--model-id <name>', 'model name clients send and /v1/models lists (default: the folder name)')
    .option('--allowed-dir <dir>', 'let requests name local files (paths, file:// URLs) inside this folder (repeatable)', collect, [])
    .option('--allow-remote-media', 'let the server fetch http(s) image/video URLs named in requests (off: data URLs only)')
    .option('--max-body <MB>', 'largest request body (data URLs count); also the total a request may fetch or read by reference', numArg(0.001), D.maxBodyBytes / 1e6)
    .option('--max-media <MB>', 'largest single image/video', numArg(0.001), D.maxMediaBytes / 1e6)
    .option('--max-images <n>', 'images per request', intArg(0), D.maxImages)
    .option('--max-videos <n>', 'videos per request', intArg(0), D.maxVideos)
    .option('--max-image-pixels <n>', 'decoded pixels per image or video frame, checked from the header before decoding', intArg(1), D.maxImagePixels)
    .option('--max-video-seconds <s>', 'longest video file', numArg(0.001), D.maxVideoSeconds)
    .option('--max-video-frames <n>', 'frames per video (longer frame lists refused; files sampled to at most this)', intArg(1), D.maxVideoFrames)
    .option('--max-prompt-tokens <n>', `prompt tokens, text and visual (text over ${PROMPT_CHARS_PER_TOKEN} characters per token is refused unread)`, intArg(1), D.maxPromptTokens)
    .option('--max-tokens <n>', 'completion tokens: ceiling for max_tokens, and its value when a request leaves it out', intArg(1), D.maxTokens)
    .option('--max-concurrent <n>', 'sequences generated at once, batched in one forward per step (default 8 on cpu, 32 on webgpu)', intArg(1))
    .option('--max-queue <n>', 'requests allowed to wait for a batch slot (429 + Retry-After beyond)', intArg(0), D.maxQueue)
    .option('--request-timeout <s>', 'cancel a request this long after it arrived (408, or an SSE error event)', numArg(0.001), D.requestTimeoutMs / 1000)
    .option('--upload-timeout <s>', 'headers and body must arrive within this', numArg(0.001), D.uploadTimeoutMs / 1000)
    .option('--fetch-timeout <s>', 'one remote media fetch (with --allow-remote-media)', numArg(0.001), D.fetchTimeoutMs / 1000)
    .option('--shutdown-grace <s>', 'on SIGTERM/Ctrl-C, let requests in progress finish this long before cancelling them', numArg(0), 10)
    .option('--api-key <key>', `require "Authorization: Bearer <key>" on every route but /health (default: $${API_KEY_ENV})`)
    .option('--insecure-no-auth', 'allow a non-loopback --host without an API key (only on a network you trust)')
    .option('-q, --quiet', 'no request log on stderr');
  addVisionCacheOption(addModelOptions(cmd)).addHelpText(
    'after',
    `
Examples:
  $ qwen3-vl serve -m ./Qwen3-VL-2B-Instruct
  $ qwen3-vl serve --demo --port 0
  $ QWEN3VL_API_KEY=s3cret qwen3-vl serve -m ./Qwen3-VL-2B-Instruct --allowed-dir ~/Pictures --host 0.0.0.0

  $ curl http://127.0.0.1:8000/v1/chat/completions -H 'content-type: application/json' -d '{
      "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}},
        {"type": "text", "text": "What is in this image?"}]}],
      "max_tokens": 128, "stream": true}'

Any OpenAI client works: new OpenAI({ baseURL: 'http://127.0.0.1:8000/v1', apiKey: 'unused' }).`,
  );
  cmd.action((flags: ServeFlags) => serveCommand(flags));
}

/** The flags as the server's limits (seconds and megabytes on the command line, ms and bytes inside). */
export function limitsFromFlags(f: ServeFlags): ServerLimits {
  return {
    maxBodyBytes: Math.round(f.maxBody * 1e6),
    maxMediaBytes: Math.round(f.maxMedia * 1e6),
    maxImages: f.maxImages,
    maxVideos: f.maxVideos,
    maxImagePixels: f.maxImagePixels,
    maxVideoSeconds: f.maxVideoSeconds,
    maxVideoFrames: f.maxVideoFrames,
    maxPromptTokens: f.maxPromptTokens,
    maxTokens: f.maxTokens,
    maxConcurrent: f.maxConcurrent ?? (f.backend === 'webgpu' ? 32 : D.maxConcurrent),
    maxQueue: f.maxQueue,
    requestTimeoutMs: Math.round(f.requestTimeout * 1000),
    uploadTimeoutMs: Math.round(f.uploadTimeout * 1000),
    fetchTimeoutMs: Math.round(f.fetchTimeout * 1000),
  };
}

async function serveCommand(flags: ServeFlags): Promise<void> {
  const progress = new Progress(process.stderr.isTTY === true, flags.quiet);
  // An empty variable counts as unset (a common way to clear one); an empty --api-key is a mistake and says so.
  const apiKey = flags.apiKey ?? (process.env[API_KEY_ENV] || undefined);
  // Before anything slow: an unauthenticated server on the network is refused, not warned about.
  try {
    checkBindPolicy(flags.host, apiKey, flags.insecureNoAuth === true);
  } catch (e) {
    if (e instanceof BindPolicyError) throw new CliError(e.message);
    throw e;
  }
  const limits = limitsFromFlags(flags);
  const allowedDirs = flags.allowedDir.map((d) => {
    if (!existsSync(d) || !statSync(d).isDirectory()) throw new CliError(`--allowed-dir '${d}' is not an existing folder`);
    return path.resolve(d);
  });
  const { dir, demo, id: hubId } = await modelDir(flags, progress);
  // The demo's own pictures and clip can be named by path.
  if (demo) allowedDirs.push(demoAssetsDir);
  // Find a taken port before the (possibly long) model load, not after it.
  if (flags.port !== 0) await probePort(flags.port, flags.host);
  const engine = await WorkerEngine.start(dir, { backend: flags.backend, dtype: flags.dtype, precision: flags.precision, visionCacheMb: flags.visionCacheMb, id: flags.modelId ?? hubId, ...servingFromFlags(flags), maxConcurrent: limits.maxConcurrent, onLoadProgress: (p) => progress.load(p.loadedBytes, p.totalBytes) });
  progress.done();
  const log = flags.quiet ? undefined : (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const server = new ChatServer({
    engine,
    media: { allowRemote: flags.allowRemoteMedia === true, allowedDirs, maxBytes: limits.maxMediaBytes },
    limits,
    apiKey,
    log,
  });
  let addr;
  try {
    addr = await server.listen(flags.port, flags.host);
  } catch (e) {
    await engine.close();
    throw bindError(e, flags.port, flags.host);
  }
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  process.stdout.write(`serving ${engine.info.id} on http://${host}:${addr.port}/v1 (Ctrl-C stops)\n`);
  if (demo) process.stderr.write(`${DEMO_NOTE}\n`);
  if (!apiKey && flags.insecureNoAuth) {
    process.stderr.write(`warning: listening on ${flags.host} without an API key (--insecure-no-auth): anyone who can reach this port can use the model\n`);
  }
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        // A second signal: stop waiting for requests in progress.
        log?.(`${signal} again: cancelling requests in progress`);
        server.hurryClose();
        return;
      }
      stopping = true;
      log?.(`${signal}: stopped accepting; finishing requests in progress (up to ${flags.shutdownGrace} s)`);
      // A backstop: whatever still holds the process after the grace period and the cancellations, exit anyway.
      setTimeout(() => process.exit(0), flags.shutdownGrace * 1000 + 15_000).unref();
      void server.close(flags.shutdownGrace * 1000).then(() => {
        process.off('SIGINT', onInt).off('SIGTERM', onTerm);
        log?.('stopped');
        resolve();
      });
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt).on('SIGTERM', onTerm);
  });
}

function bindError(e: unknown, port: number, host: string): Error {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return new CliError(`port ${port} on ${host} is in use (pick another with --port, or --port 0 for any free one)`);
  if (code === 'EACCES') return new CliError(`no permission to bind port ${port} (ports below 1024 need privileges)`);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') return new CliError(`cannot bind to --host ${host}: no such local address`);
  return e as Error;
}

/** Bind and release the port once, so a conflict is reported in a second rather than after loading the model. */
function probePort(port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', (e) => reject(bindError(e, port, host)));
    s.listen(port, host, () => s.close(() => resolve()));
  });
}
