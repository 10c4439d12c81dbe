// The paged KV pool on the GPU: kvAlloc (f32, f16 or q8_0 slots in the cpu backend's byte layout) and kvWrite, which
// converts new rows into their slots (scatter.wgsl for f32, kv_write.wgsl rounding to f16 or q8_0 as ref does).

import type { KvDType } from '../../backend.js';
import { checkSlots } from '../../paged.js';
import { byteSize } from '../../../tensor/dtype.js';
import { Tensor } from '../../../tensor/tensor.js';
import { type Ctx, wg256 } from '../ctx.js';

export function kvAlloc(c: Ctx, owner: Tensor['owner'], slots: number, width: number, dtype: KvDType): Tensor {
  if (!Number.isInteger(slots) || !Number.isInteger(width) || slots < 1 || width < 1) throw new Error(`webgpu.kvAlloc: [${slots}, ${width}] is not a pool shape`);
  if (dtype === 'q8_0' && width % 32) throw new Error(`webgpu.kvAlloc: q8_0 rows need a multiple of 32 values (got ${width})`);
  if (dtype === 'f16' && width % 2) throw new Error(`webgpu.kvAlloc: f16 rows need an even number of values (got ${width})`);
  if (dtype !== 'f32' && dtype !== 'f16' && dtype !== 'q8_0') throw new Error(`webgpu.kvAlloc: ${String(dtype)} is not a KV dtype (f32, f16, q8_0)`);
  const bytes = Math.ceil(byteSize(dtype, slots * width) / 4) * 4;
  if (bytes > c.rt.maxBinding) throw new Error(`webgpu.kvAlloc: a ${dtype} pool of [${slots}, ${width}] takes ${bytes} bytes, over this device's maxStorageBufferBindingSize (${c.rt.maxBinding}); use a smaller KV cache`);
  // A fresh buffer is zero-filled (WebGPU guarantees it), so never-written slots read as 0.
  return new Tensor(owner, [slots, width], dtype, { gb: c.rt.create(bytes, false), qoff: 0, kvPool: true });
}

export function kvWrite(c: Ctx, pool: Tensor, slots: Int32Array, src: Tensor): void {
  checkSlots('webgpu', pool, slots, src);
  const st = c.store(pool);
  if (pool.dtype !== 'f32' && !st.kvPool) throw new Error(`webgpu.kvWrite: [${pool.shape}] ${pool.dtype} is not a KV pool made by kvAlloc`);
  if (slots.length === 0) return;
  const x = c.act(src, 'kvWrite');
  const n = slots.length;
  const w = pool.cols;
  const idx = c.scratchFrom(slots);
  if (pool.dtype === 'f32') {
    c.run({ shader: 'scatter', bindings: ['r', 'r', 'w'], consts: { ACC: false } }, [x, idx, st.gb], [n, w, pool.rows], wg256(n * w));
  } else {
    const q8 = pool.dtype === 'q8_0';
    c.run({ shader: 'kv_write', bindings: ['r', 'r', 'w'], consts: { Q8: q8 } }, [x, idx, st.gb], [n, w], wg256(n * (q8 ? w / 32 : w / 2)));
  }
  c.done();
}
