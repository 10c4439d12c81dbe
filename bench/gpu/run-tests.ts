// Device entry for the test tiers that need a GPU: the op harness on Dawn and (QWEN3VL_BACKEND=webgpu) the golden
// parity suite, bundled with mini-vitest standing in for vitest. Usage: node run-tests.mjs [ops] [fast] [parity]
import { runAll } from './mini-vitest.js';

const which = process.argv.slice(2);
const want = (x: string) => which.length === 0 || which.includes(x);
let failed = 0;
if (want('ops')) {
  await import('../../test/backend/webgpu.test.js');
  await import('../../test/backend/webgpuFused.test.js');
  failed += (await runAll()).failed;
}
if (want('fast')) {
  await import('../../test/backend/webgpuFast.test.js');
  failed += (await runAll()).failed;
}
if (want('parity')) {
  await import('../../test/model/parity.test.js');
  failed += (await runAll()).failed;
}
process.exit(failed ? 1 : 0);
