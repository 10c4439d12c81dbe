// The op harness on WebGPU through Dawn in Node. Without a GPU adapter (CPU-only CI) every case skips and the
// reason is printed; the browser run (npm run test:webgpu, SwiftShader) covers the same kernels there.
import { describeOpSuite } from './opCases.js';
import { createWebGpuBackend, NoWebGpuError } from '../../src/backend/webgpu/index.js';

describeOpSuite('webgpu (Dawn, Node)', async () => {
  try {
    return await createWebGpuBackend();
  } catch (e) {
    if (!(e instanceof NoWebGpuError)) throw e;
    console.warn(`webgpu op harness skipped: ${e.message}`);
    return null;
  }
});
