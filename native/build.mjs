// `npm install` hook: build the CPU addon with node-gyp. A failed build must not fail the install: the engine then
// falls back to the reference backend and says why once (src/backend/index.ts).
/* global process, console */
import { spawnSync } from 'node:child_process';

if (process.env.QWEN3VL_SKIP_NATIVE) {
  console.log('qwen3-vl: QWEN3VL_SKIP_NATIVE set; not building the native CPU backend');
  process.exit(0);
}
const r = spawnSync('node-gyp', ['rebuild', '-j', 'max'], { stdio: 'inherit', shell: process.platform === 'win32' });
if (r.status !== 0) {
  const why = r.error ? r.error.message : `node-gyp exited with ${r.status}`;
  console.warn(`qwen3-vl: the native CPU backend was not built (${why}); backend 'cpu' will fall back to 'ref'.`);
}
process.exit(0);
