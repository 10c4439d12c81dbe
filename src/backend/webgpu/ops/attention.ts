// attention: few query rows (decode) use split-K over the keys plus a merge pass; many rows use an online-softmax
// kernel: one row per thread for small heads (attn_rows), 64×64 register tiles otherwise (attn_flash). None
// materialises a [T, kvLen] score matrix.

import type { AttentionOptions } from '../../backend.js';
import type { Tensor } from '../../../tensor/tensor.js';
import type { Ctx } from '../ctx.js';
import { type GpuBuf, f32bits } from '../runtime.js';

/** Keys per split of the decode kernel (= its workgroup size): 64 gives a 2B step at KV 300 80 workgroups, not 48. */
const CH = 64;
/** Rows from which attn_rows is used (below, too few workgroups of it to fill the GPU; attn_flash does as well). */
const ROWS_MIN_T = 1024;
/** Query rows up to which the split-K decode path is used. */
const SPLIT_MAX_ROWS = 4;

export function attention(c: Ctx, q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions): Tensor {
  const { nHeads: nh, nKvHeads: nkv, headDim: hd, kvLen } = o;
  const t = q.rows;
  const qw = nh * hd;
  const kw = nkv * hd;
  if (q.cols !== qw || k.cols !== kw || v.cols !== kw || nh % nkv) {
    throw new Error(`webgpu.attention: q [${q.shape}], k [${k.shape}], v [${v.shape}] vs heads ${nh}/${nkv} × ${hd}`);
  }
  if (kvLen > k.rows || kvLen > v.rows || kvLen < 1) throw new Error(`webgpu.attention: kvLen ${kvLen} outside the ${k.rows} key rows`);
  const qStart = o.qStart ?? kvLen - t;
  const seg = o.segments;
  if (seg && (o.causal || t !== kvLen || seg[0] !== 0 || seg[seg.length - 1] !== t)) {
    throw new Error(`webgpu.attention: segments need causal false, T == kvLen and bounds 0..${t}`);
  }
  if (o.causal && qStart < 0) throw new Error(`webgpu.attention: causal with qStart ${qStart} < 0`);
  const out = c.make([t, qw]);
  const params = [t, nh, nkv, hd, kvLen, o.causal ? 1 : 0, qStart, 0, f32bits(o.scale), qw, kw];
  const [qb, kb, vb, ob] = [c.act(q, 'attention q'), c.act(k, 'attention k'), c.act(v, 'attention v'), c.store(out).gb];
  if (t <= SPLIT_MAX_ROWS && !seg && hd % 4 === 0 && hd <= 128) {
    const nsplit = Math.ceil(kvLen / CH);
    params[7] = nsplit;
    if (nsplit === 1) {
      c.run({ shader: 'attn_split', bindings: ['r', 'r', 'r', 'w', 'w'], consts: { CH, DIRECT: true } }, [qb, kb, vb, ob, c.scratch(16)], params, [1, nh, t]);
    } else {
      const op = c.scratch(t * nh * nsplit * hd * 4);
      const ml = c.scratch(t * nh * nsplit * 2 * 4);
      c.run({ shader: 'attn_split', bindings: ['r', 'r', 'r', 'w', 'w'], consts: { CH, DIRECT: false } }, [qb, kb, vb, op, ml], params, [nsplit, nh, t]);
      c.run({ shader: 'attn_combine', bindings: ['r', 'r', 'w'] }, [op, ml, ob], params, [nh, t]);
    }
  } else if (c.rt.fast && hd % 4 === 0 && hd <= 128 && !(hd <= 64 && t >= ROWS_MIN_T && hd <= c.rt.attnRowsMaxHd)) {
    // Heads of 64 over 1024+ rows stay on attn_rows, which the H200 ran faster there (run 14, 16 heads, 4096 rows:
    // 6.9 ms against 7.8 for attn_h; 72-wide heads: 12.1 against 7.9).
    attentionFast(c, q, k, v, o, qStart, ob);
  } else if (hd % 4 === 0 && hd <= c.rt.attnRowsMaxHd && t >= ROWS_MIN_T) {
    // Small heads over many rows (the vision tower of large images): one query row per thread, K/V tiles read as
    // broadcasts. Measured on the H200: the 2B tower at 1024² (4096 rows) 360 -> 280 ms.
    const hd4 = hd / 4;
    const bk = [64, 48, 32, 16].find((n) => 2 * n * hd4 * 16 + 16 <= c.rt.maxWorkgroupStorage);
    if (!bk) throw new Error(`webgpu.attention: head dim ${hd} needs more workgroup memory than this device has`);
    // 128 rows a workgroup, or 64 when that leaves too few workgroups to fill the GPU.
    const r = Math.ceil(t / 128) * nh >= 264 ? 128 : 64;
    let segBuf = c.dummy;
    if (seg) {
      params[7] = seg.length - 1;
      segBuf = c.scratchFrom(Uint32Array.from(seg));
    }
    c.run({ shader: 'attn_rows', bindings: ['r', 'r', 'r', 'r', 'w'], consts: { HD4: hd4, R: r, BK: bk } }, [qb, kb, vb, segBuf, ob], params, [Math.ceil(t / r), nh]);
  } else {
    const hdp = Math.ceil(hd / 16) * 16;
    // Workgroup memory: Q and K slices 8 KiB, scores 16 KiB, V slice VK·HD floats (fits SwiftShader's 32 KiB).
    const fixed = (2 * 16 * 64 + 64 * 64 + 3 * 64 + 256 + 4) * 4;
    const vk = [16, 8, 4].find((v) => fixed + v * hdp * 4 <= c.rt.maxWorkgroupStorage);
    if (!vk) throw new Error(`webgpu.attention: head dim ${hd} needs more workgroup memory than this device has`);
    let segBuf = c.dummy;
    if (seg) {
      params[7] = seg.length - 1;
      segBuf = c.scratchFrom(Uint32Array.from(seg));
    }
    c.run({ shader: 'attn_flash', bindings: ['r', 'r', 'r', 'r', 'w'], consts: { HD: hdp, VK: vk } }, [qb, kb, vb, segBuf, ob], params, [Math.ceil(t / 64), nh]);
  }
  c.done();
  return out;
}

/**
 * Precision 'fast': q (times scale · log2 e), k and v to head-major f16 (attn_cvt.wgsl), then flash attention with
 * tensor-core products (attn_h.wgsl), 64 query rows a workgroup.
 */
function attentionFast(c: Ctx, q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions, qStart: number, out: GpuBuf): void {
  const { nHeads: nh, nKvHeads: nkv, headDim: hd, kvLen } = o;
  const t = q.rows;
  const hdp = Math.ceil(hd / 16) * 16;
  const tp = Math.ceil(t / 64) * 64;
  // A block of 64 keys may start at any key below kvLen: one spare block of zero rows keeps its loads inside.
  const lp = Math.ceil(kvLen / 64) * 64 + 64;
  const cvt = (x: Tensor, rows: number, rowsp: number, heads: number, mul: number): GpuBuf => {
    const buf = c.scratch(heads * rowsp * hdp * 2);
    const n = (heads * rowsp * hdp) / 4;
    c.run({ shader: 'attn_cvt', bindings: ['r', 'w'] }, [c.act(x, 'attention'), buf], [rows, rowsp, heads, hd, hdp, x.cols, f32bits(mul)], Math.ceil(n / 256));
    return buf;
  };
  const qh = cvt(q, t, tp, nh, o.scale * Math.LOG2E);
  const kh = cvt(k, kvLen, lp, nkv, 1);
  const vh = cvt(v, kvLen, lp, nkv, 1);
  const seg = o.segments;
  const segBuf = seg ? c.scratchFrom(Uint32Array.from(seg)) : c.dummy;
  const params = [t, nh, nkv, hd, kvLen, o.causal ? 1 : 0, qStart, seg ? seg.length - 1 : 0, tp, lp, nh * hd];
  // Heads up to 80 wide: K/V blocks staged in workgroup memory (64 keys, or 32 for 80-wide heads, to fit 48 KiB).
  const staged = c.rt.fastAttn === 'staged' && hdp <= 80;
  const consts: Record<string, number> = staged ? { HDP: hdp, BKEY: hdp <= 64 ? 64 : 32 } : { HDP: hdp };
  c.run({ shader: staged ? 'attn_hs' : 'attn_h', bindings: ['r', 'r', 'r', 'r', 'w'], consts }, [qh, kh, vh, segBuf, out], params, [tp / 64, nh]);
}
