// Fused decoder ops of the WebGPU backend against the same computation in contract ops on ref (Dawn in Node; skipped
// with the reason when there is no GPU adapter, the browser tier runs the same cases).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RefBackend } from '../../src/backend/ref/index.js';
import { createWebGpuBackend, NoWebGpuError, type WebGpuBackend } from '../../src/backend/webgpu/index.js';
import { relErr } from '../helpers/fixtures.js';
import { fusedCases } from './webgpuFusedCases.js';
import { rng } from '../helpers/rng.js';

describe('webgpu fused ops vs ref compositions', () => {
  let be: WebGpuBackend | null = null;
  beforeAll(async () => {
    try {
      be = await createWebGpuBackend();
    } catch (e) {
      if (!(e instanceof NoWebGpuError)) throw e;
      console.warn(`webgpu fused-op tests skipped: ${e.message}`);
    }
  });
  afterAll(() => be?.destroy());
  for (const c of fusedCases) {
    it(c.name, async (ctx) => {
      if (!be) return ctx.skip('no WebGPU adapter');
      const want = await Promise.all(c.plain(new RefBackend(), rng(42)).map((t) => t.read()));
      const got = await Promise.all(c.fused(be, rng(42)).map((t) => t.read()));
      for (let i = 0; i < want.length; i++) expect(relErr(got[i], want[i])).toBeLessThanOrEqual(c.tol);
    });
  }
});
