// `qwen3-vl serve`: the OpenAI-compatible server on one checkpoint, inference in a worker thread; stops cleanly on
// Ctrl-C / SIGTERM.

import type { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ChatServer } from '../server/app.js';
import { WorkerEngine } from '../server/workerEngine.js';
import { addModelOptions, CliError, collect, intArg, modelDir, numArg, type ModelFlags } from './common.js';
import { Progress } from './progress.js';
import { DEMO_NOTE } from './run.js';

interface ServeFlags extends ModelFlags {
  host: string;
  port: number;
  modelId?: string;
  allowedDir: string[];
  allowRemoteMedia?: boolean;
  maxBody: number;
  maxMedia: number;
  maxQueue: number;
  apiKey?: string;
  quiet?: boolean;
}

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
    .option('--max-body <MB>', 'largest request body (data URLs count)', numArg(0.001), 64)
    .option('--max-media <MB>', 'largest single image/video', numArg(0.001), 64)
    .option('--max-queue <n>', 'requests allowed to wait behind the running one (429 beyond)', intArg(0), 32)
    .option('--api-key <key>', 'require "Authorization: Bearer <key>" on /v1 routes (default: $QWEN3VL_API_KEY, else none)')
    .option('-q, --quiet', 'no request log on stderr');
  addModelOptions(cmd).addHelpText(
    'after',
    `
Examples:
  $ qwen3-vl serve -m ./Qwen3-VL-2B-Instruct
  $ qwen3-vl serve --demo --port 0
  $ qwen3-vl serve -m ./Qwen3-VL-2B-Instruct --allowed-dir ~/Pictures --host 0.0.0.0 --api-key s3cret

  $ curl http://127.0.0.1:8000/v1/chat/completions -H 'content-type: application/json' -d '{
      "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}},
        {"type": "text", "text": "What is in this image?"}]}],
      "max_tokens": 128, "stream": true}'

Any OpenAI client works: new OpenAI({ baseURL: 'http://127.0.0.1:8000/v1', apiKey: 'unused' }).`,
  );
  cmd.action((flags: ServeFlags) => serveCommand(flags));
}

async function serveCommand(flags: ServeFlags): Promise<void> {
  const progress = new Progress(process.stderr.isTTY === true, flags.quiet);
  const allowedDirs = flags.allowedDir.map((d) => {
    if (!existsSync(d) || !statSync(d).isDirectory()) throw new CliError(`--allowed-dir '${d}' is not an existing folder`);
    return path.resolve(d);
  });
  const { dir, demo } = await modelDir(flags, progress);
  // Find a taken port before the (possibly long) model load, not after it.
  if (flags.port !== 0) await probePort(flags.port, flags.host);
  const engine = await WorkerEngine.start(dir, { backend: flags.backend, dtype: flags.dtype, id: flags.modelId, onLoadProgress: (p) => progress.load(p.loadedBytes, p.totalBytes) });
  progress.done();
  const log = flags.quiet ? undefined : (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const server = new ChatServer({
    engine,
    media: { allowRemote: flags.allowRemoteMedia === true, allowedDirs, maxBytes: flags.maxMedia * 1e6 },
    maxBodyBytes: flags.maxBody * 1e6,
    maxQueue: flags.maxQueue,
    apiKey: flags.apiKey ?? process.env.QWEN3VL_API_KEY,
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
  if (!['127.0.0.1', '::1', 'localhost'].includes(flags.host) && !flags.apiKey && !process.env.QWEN3VL_API_KEY) {
    process.stderr.write(`warning: listening on ${flags.host} without --api-key: anyone who can reach this port can use the model\n`);
  }
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop).off('SIGTERM', stop);
      log?.('shutting down');
      void server.close().then(resolve);
    };
    process.on('SIGINT', stop).on('SIGTERM', stop);
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
