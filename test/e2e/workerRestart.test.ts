// The server's inference worker is replaced when it dies (the model loads again and requests carry on), and a worker
// that keeps dying leaves the engine down with an error that says so. Drives the built module, as the server does.
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { fixturesRoot, projectRoot } from '../helpers/fixtures.js';
import { ensureBuilt } from './cliHarness.js';
import type { WorkerEngine as WorkerEngineT } from '../../src/server/workerEngine.js';

const tiny = path.join(fixturesRoot, 'tiny-dense');
let WorkerEngine: typeof WorkerEngineT;

beforeAll(async () => {
  ensureBuilt();
  ({ WorkerEngine } = (await import(path.join(projectRoot, 'dist', 'server', 'workerEngine.js'))) as { WorkerEngine: typeof WorkerEngineT });
});

async function answer(e: WorkerEngineT): Promise<number> {
  let tokens = 0;
  for await (const ev of e.stream([{ role: 'user', content: 'hi' }], { maxTokens: 3, temperature: 0 })) if (ev.type === 'text') tokens++;
  return tokens;
}

/** Kill the current worker as a crash would (terminate ends it with exit code 1). */
const kill = (e: WorkerEngineT) => (e as unknown as { worker: Worker }).worker.terminate();

describe.skipIf(!existsSync(tiny))('server worker restarts', () => {
  it('a dead worker is replaced and the next request is answered; one that keeps dying stays down', async () => {
    const engine = await WorkerEngine.start(tiny, { backend: 'ref' });
    try {
      expect(await answer(engine)).toBeGreaterThan(0);
      await kill(engine);
      expect(await answer(engine)).toBeGreaterThan(0);
      expect(engine.restartCount).toBe(1);
      expect(engine.alive).toBe(true);
      await kill(engine);
      await answer(engine);
      await kill(engine);
      await answer(engine);
      expect(engine.restartCount).toBe(3);
      await kill(engine);
      await expect(answer(engine)).rejects.toThrow(/not restarted again/);
      expect(engine.alive).toBe(false);
    } finally {
      await engine.close();
    }
  }, 120_000);
});
