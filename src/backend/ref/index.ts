// The reference backend: plain, obvious TypeScript over Float32Arrays. It defines what every op means; other
// backends are tested against it. Float weights are widened to f32 on upload; quantized ones are decoded per row.

import type { AttentionOptions, Backend, Capabilities, HostData, KvDType, PagedAttentionOptions, PagedBatch } from '../backend.js';
import { type DType, f16ToF32, f32ToF16, isQuant, widen } from '../../tensor/dtype.js';
import { dequantizeRow, quantize } from '../../tensor/quant.js';
import { checkPagedBatch, checkSlots } from '../paged.js';
import { Tensor } from '../../tensor/tensor.js';

type Store = Float32Array | Int32Array | Uint8Array;

export class RefBackend implements Backend {
  readonly name = 'ref';

  capabilities(): Capabilities {
    return { weightDTypes: ['f32', 'bf16', 'f16', 'q8_0', 'q4_0'], info: { kind: 'reference TypeScript f32' } };
  }

  private make(shape: readonly number[], data: Store, dtype: DType = 'f32'): Tensor {
    return new Tensor(this, shape, dtype, data);
  }

  private f32(t: Tensor): Float32Array {
    const s = t.storage;
    if (!(s instanceof Float32Array)) throw new Error(`ref: tensor [${t.shape}] ${t.dtype} is not f32 storage`);
    return s;
  }

  private i32(t: Tensor): Int32Array {
    const s = t.storage;
    if (!(s instanceof Int32Array)) throw new Error(`ref: tensor [${t.shape}] ${t.dtype} is not i32`);
    return s;
  }

  /** Row r of a weight matrix [N, K] as f32 (decoded for quantized formats). */
  private rowReader(w: Tensor): (r: number, out: Float32Array) => Float32Array {
    const k = w.cols;
    if (isQuant(w.dtype)) {
      const q = w.storage as Uint8Array;
      const fmt = w.dtype;
      return (r, out) => (dequantizeRow(q, r, k, fmt, out), out);
    }
    const d = this.f32(w);
    return (r) => d.subarray(r * k, (r + 1) * k);
  }

  upload(data: HostData, shape: readonly number[], dtype: DType): Tensor {
    this.live();
    const n = shape.reduce((a, b) => a * b, 1);
    let store: Store;
    if (dtype === 'f32') store = Float32Array.from(data as Float32Array);
    else if (dtype === 'bf16' || dtype === 'f16') store = widen(data as Uint16Array, dtype);
    else if (dtype === 'i32') store = Int32Array.from(data as Int32Array);
    else store = Uint8Array.from(data as Uint8Array);
    if (!isQuant(dtype) && store.length !== n) throw new Error(`ref: upload of ${store.length} values for shape [${shape}]`);
    return this.make(shape, store, dtype);
  }

  zeros(shape: readonly number[]): Tensor {
    return this.make(shape, new Float32Array(shape.reduce((a, b) => a * b, 1)));
  }

  async read(t: Tensor): Promise<Float32Array | Int32Array> {
    this.live();
    if (isQuant(t.dtype)) throw new Error('ref: reading a quantized tensor is not supported; dequantize on the host');
    const s = t.storage;
    return s instanceof Int32Array ? Int32Array.from(s) : Float32Array.from(s as Float32Array);
  }

  free(): void {}
  async sync(): Promise<void> {
    this.live();
  }
  destroy(): void {
    this.destroyed = true;
  }

  // As cpu and webgpu do: an engine disposed of must not go on answering from its old tensors.
  private destroyed = false;
  private live(): void {
    if (this.destroyed) throw new Error('ref: backend used after destroy()');
  }

  linear(x: Tensor, w: Tensor, bias?: Tensor): Tensor {
    const [n, k] = [w.rows, w.cols];
    if (x.cols !== k) throw new Error(`ref.linear: x [${x.shape}] vs w [${w.shape}]`);
    const m = x.rows;
    const xs = this.f32(x);
    const b = bias ? this.f32(bias) : null;
    const out = new Float32Array(m * n);
    const row = this.rowReader(w);
    const tmp = new Float32Array(k);
    for (let j = 0; j < n; j++) {
      const wr = row(j, tmp);
      for (let i = 0; i < m; i++) {
        let s = 0;
        const o = i * k;
        for (let c = 0; c < k; c++) s += xs[o + c] * wr[c];
        out[i * n + j] = s + (b ? b[j] : 0);
      }
    }
    return this.make([...x.shape.slice(0, -1), n], out);
  }

  gatherRows(table: Tensor, idx: Tensor, k = 1, weights?: Tensor): Tensor {
    const d = table.cols;
    const ids = this.i32(idx);
    const ws = weights ? this.f32(weights) : null;
    const n = ids.length / k;
    const out = new Float32Array(n * d);
    const row = this.rowReader(table);
    const tmp = new Float32Array(d);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < k; j++) {
        const r = ids[i * k + j];
        if (r < 0 || r >= table.rows) throw new Error(`ref.gatherRows: index ${r} outside [0, ${table.rows})`);
        const src = row(r, tmp);
        const w = ws ? ws[i * k + j] : 1;
        for (let c = 0; c < d; c++) out[i * d + c] += w * src[c];
      }
    }
    return this.make([n, d], out);
  }

  add(a: Tensor, b: Tensor): Tensor {
    if (a.size !== b.size) throw new Error(`ref.add: [${a.shape}] + [${b.shape}]`);
    const x = this.f32(a);
    const y = this.f32(b);
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) out[i] = x[i] + y[i];
    return this.make(a.shape, out);
  }

  rmsNorm(x: Tensor, w: Tensor, eps: number): Tensor {
    const xs = this.f32(x);
    const ws = this.f32(w);
    const d = ws.length;
    const out = new Float32Array(xs.length);
    for (let o = 0; o < xs.length; o += d) {
      let ss = 0;
      for (let c = 0; c < d; c++) ss += xs[o + c] * xs[o + c];
      const r = 1 / Math.sqrt(ss / d + eps);
      for (let c = 0; c < d; c++) out[o + c] = ws[c] * (xs[o + c] * r);
    }
    return this.make(x.shape, out);
  }

  layerNorm(x: Tensor, w: Tensor, b: Tensor, eps: number): Tensor {
    const xs = this.f32(x);
    const ws = this.f32(w);
    const bs = this.f32(b);
    const d = ws.length;
    const out = new Float32Array(xs.length);
    for (let o = 0; o < xs.length; o += d) {
      let mean = 0;
      for (let c = 0; c < d; c++) mean += xs[o + c];
      mean /= d;
      let v = 0;
      for (let c = 0; c < d; c++) v += (xs[o + c] - mean) ** 2;
      const r = 1 / Math.sqrt(v / d + eps);
      for (let c = 0; c < d; c++) out[o + c] = (xs[o + c] - mean) * r * ws[c] + bs[c];
    }
    return this.make(x.shape, out);
  }

  swiglu(x: Tensor): Tensor {
    const xs = this.f32(x);
    const i2 = x.cols;
    const h = i2 / 2;
    const m = x.rows;
    const out = new Float32Array(m * h);
    for (let r = 0; r < m; r++) {
      for (let c = 0; c < h; c++) {
        const g = xs[r * i2 + c];
        out[r * h + c] = (g / (1 + Math.exp(-g))) * xs[r * i2 + h + c];
      }
    }
    return this.make([...x.shape.slice(0, -1), h], out);
  }

  gelu(x: Tensor, approximate: 'tanh' | 'none'): Tensor {
    const xs = this.f32(x);
    const out = new Float32Array(xs.length);
    const k = Math.sqrt(2 / Math.PI);
    for (let i = 0; i < xs.length; i++) {
      const z = xs[i];
      out[i] = approximate === 'tanh' ? 0.5 * z * (1 + Math.tanh(k * (z + 0.044715 * z * z * z))) : 0.5 * z * (1 + erf(z / Math.SQRT2));
    }
    return this.make(x.shape, out);
  }

  rope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
    const xs = this.f32(x);
    const cs = this.f32(cos);
    const sn = this.f32(sin);
    const hd = cos.cols;
    const t = x.rows;
    const w = x.cols;
    if (cos.rows !== t || w % hd) throw new Error(`ref.rope: x [${x.shape}] vs cos [${cos.shape}]`);
    const half = hd / 2;
    const out = new Float32Array(xs.length);
    for (let r = 0; r < t; r++) {
      for (let o = r * w; o < (r + 1) * w; o += hd) {
        for (let d = 0; d < half; d++) {
          const a = xs[o + d];
          const b = xs[o + d + half];
          out[o + d] = a * cs[r * hd + d] - b * sn[r * hd + d];
          out[o + d + half] = b * cs[r * hd + d + half] + a * sn[r * hd + d + half];
        }
      }
    }
    return this.make(x.shape, out);
  }

  attention(q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions): Tensor {
    const { nHeads: nh, nKvHeads: nkv, headDim: hd, kvLen, scale } = o;
    const t = q.rows;
    const qs = this.f32(q);
    const ks = this.f32(k);
    const vs = this.f32(v);
    const qStart = o.qStart ?? kvLen - t;
    const group = nh / nkv;
    const qw = nh * hd;
    const kw = nkv * hd;
    const out = new Float32Array(t * qw);
    const seg = o.segments;
    const scores = new Float64Array(kvLen);
    let s = 0;
    for (let i = 0; i < t; i++) {
      let lo = 0;
      let hi = kvLen;
      if (o.causal) hi = qStart + i + 1;
      if (seg) {
        while (seg[s + 1] <= i) s++;
        lo = seg[s];
        hi = seg[s + 1];
      }
      for (let h = 0; h < nh; h++) {
        const g = Math.floor(h / group);
        let max = -Infinity;
        for (let j = lo; j < hi; j++) {
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += qs[i * qw + h * hd + d] * ks[j * kw + g * hd + d];
          scores[j] = dot * scale;
          if (scores[j] > max) max = scores[j];
        }
        let sum = 0;
        for (let j = lo; j < hi; j++) sum += scores[j] = Math.exp(scores[j] - max);
        for (let d = 0; d < hd; d++) {
          let acc = 0;
          for (let j = lo; j < hi; j++) acc += scores[j] * vs[j * kw + g * hd + d];
          out[i * qw + h * hd + d] = acc / sum;
        }
      }
    }
    return this.make([t, qw], out);
  }

  kvAlloc(slots: number, width: number, dtype: KvDType): Tensor {
    if (dtype === 'q8_0') {
      if (width % 32) throw new Error(`ref.kvAlloc: q8_0 rows need a multiple of 32 values (got ${width})`);
      return this.make([slots, width], new Uint8Array((slots * width * 34) / 32), 'q8_0');
    }
    // f16 pools hold f16-rounded values widened to f32 (ref keeps every float format as f32).
    return this.make([slots, width], new Float32Array(slots * width), dtype);
  }

  kvWrite(pool: Tensor, idx: Int32Array, src: Tensor): void {
    const w = pool.cols;
    const x = this.f32(src);
    checkSlots('ref', pool, idx, src);
    for (let i = 0; i < idx.length; i++) {
      const s = idx[i];
      const row = x.subarray(i * w, (i + 1) * w);
      if (pool.dtype === 'q8_0') (pool.storage as Uint8Array).set(quantize(row, w, 'q8_0'), (s * w * 34) / 32);
      else {
        const d = this.f32(pool);
        for (let c = 0; c < w; c++) d[s * w + c] = pool.dtype === 'f16' ? f16ToF32(f32ToF16(row[c])) : row[c];
      }
    }
  }

  pagedAttention(q: Tensor, kPool: Tensor, vPool: Tensor, batch: PagedBatch, o: PagedAttentionOptions): Tensor {
    const { nHeads: nh, nKvHeads: nkv, headDim: hd, scale } = o;
    checkPagedBatch('ref', q, kPool, vPool, batch, o);
    const qs = this.f32(q);
    const kw = nkv * hd;
    const qw = nh * hd;
    const row = (p: Tensor) => {
      if (p.dtype !== 'q8_0') {
        const d = this.f32(p);
        return (s: number) => d.subarray(s * kw, (s + 1) * kw);
      }
      const tmp = new Float32Array(kw);
      return (s: number) => (dequantizeRow(p.storage as Uint8Array, s, kw, 'q8_0', tmp), Float32Array.from(tmp));
    };
    const kRow = row(kPool);
    const vRow = row(vPool);
    const { blockSize: bs, cuQ, kvLen, tblPtr, tbl } = batch;
    const out = new Float32Array(q.rows * qw);
    const group = nh / nkv;
    for (let s = 0; s + 1 < cuQ.length; s++) {
      const nq = cuQ[s + 1] - cuQ[s];
      const len = kvLen[s];
      const ks: Float32Array[] = [];
      const vs: Float32Array[] = [];
      for (let j = 0; j < len; j++) {
        const slot = tbl[tblPtr[s] + Math.floor(j / bs)] * bs + (j % bs);
        ks.push(kRow(slot));
        vs.push(vRow(slot));
      }
      const scores = new Float64Array(len);
      for (let i = 0; i < nq; i++) {
        const r = cuQ[s] + i;
        const hi = len - nq + i + 1;
        for (let h = 0; h < nh; h++) {
          const g = Math.floor(h / group);
          let max = -Infinity;
          for (let j = 0; j < hi; j++) {
            let dot = 0;
            for (let d = 0; d < hd; d++) dot += qs[r * qw + h * hd + d] * ks[j][g * hd + d];
            scores[j] = dot * scale;
            if (scores[j] > max) max = scores[j];
          }
          let sum = 0;
          for (let j = 0; j < hi; j++) sum += scores[j] = Math.exp(scores[j] - max);
          for (let d = 0; d < hd; d++) {
            let acc = 0;
            for (let j = 0; j < hi; j++) acc += scores[j] * vs[j][g * hd + d];
            out[r * qw + h * hd + d] = acc / sum;
          }
        }
      }
    }
    return this.make([q.rows, qw], out);
  }

  writeRows(dst: Tensor, row0: number, src: Tensor): void {
    if (src.cols !== dst.cols || row0 + src.rows > dst.rows) {
      throw new Error(`ref.writeRows: [${src.shape}] at row ${row0} into [${dst.shape}]`);
    }
    this.f32(dst).set(this.f32(src), row0 * dst.cols);
  }

  sliceRows(x: Tensor, start: number, n: number): Tensor {
    if (start < 0 || start + n > x.rows) throw new Error(`ref.sliceRows: [${start}, ${start + n}) of [${x.shape}]`);
    const c = x.cols;
    return this.make([n, c], this.f32(x).slice(start * c, (start + n) * c));
  }

  scatterRows(dst: Tensor, rows: Tensor, src: Tensor, accumulate: boolean): void {
    const d = this.f32(dst);
    const s = this.f32(src);
    const r = this.i32(rows);
    const c = dst.cols;
    if (src.cols !== c || src.rows !== r.length) throw new Error(`ref.scatterRows: [${src.shape}] by ${r.length} rows`);
    for (let i = 0; i < r.length; i++) {
      if (r[i] < 0 || r[i] >= dst.rows) throw new Error(`ref.scatterRows: row ${r[i]} outside [0, ${dst.rows})`);
      for (let j = 0; j < c; j++) d[r[i] * c + j] = accumulate ? d[r[i] * c + j] + s[i * c + j] : s[i * c + j];
    }
  }

  routerTopk(logits: Tensor, k: number): { ids: Tensor; weights: Tensor } {
    const ls = this.f32(logits);
    const e = logits.cols;
    const t = logits.rows;
    const ids = new Int32Array(t * k);
    const ws = new Float32Array(t * k);
    for (let r = 0; r < t; r++) {
      const row = ls.subarray(r * e, (r + 1) * e);
      let max = -Infinity;
      for (const v of row) max = Math.max(max, v);
      const p = Array.from(row, (v) => Math.exp(v - max));
      const order = p.map((_, i) => i).sort((a, b) => p[b] - p[a] || a - b);
      let sum = 0;
      for (let j = 0; j < k; j++) sum += p[order[j]];
      for (let j = 0; j < k; j++) {
        ids[r * k + j] = order[j];
        ws[r * k + j] = p[order[j]] / sum;
      }
    }
    return { ids: this.make([t, k], ids, 'i32'), weights: this.make([t, k], ws) };
  }

  moe(x: Tensor, ids: Tensor, weights: Tensor, gateUp: Tensor, down: Tensor): Tensor {
    const [nE, i2, h] = gateUp.shape;
    const inter = i2 / 2;
    if (x.cols !== h || down.shape[1] !== h || down.shape[2] !== inter || down.shape[0] !== nE) {
      throw new Error(`ref.moe: x [${x.shape}], gateUp [${gateUp.shape}], down [${down.shape}]`);
    }
    const xs = this.f32(x);
    const id = this.i32(ids);
    const ws = this.f32(weights);
    const k = ids.cols;
    const t = x.rows;
    const out = new Float32Array(t * h);
    const gu = this.rowReader(gateUp.reshape([nE * i2, h]));
    const dn = this.rowReader(down.reshape([nE * h, inter]));
    const tmpH = new Float32Array(h);
    const tmpI = new Float32Array(inter);
    const act = new Float32Array(inter);
    for (let r = 0; r < t; r++) {
      const xr = xs.subarray(r * h, (r + 1) * h);
      for (let j = 0; j < k; j++) {
        const ex = id[r * k + j];
        for (let c = 0; c < inter; c++) {
          const g = dot(gu(ex * i2 + c, tmpH), xr);
          const u = dot(gu(ex * i2 + inter + c, tmpH), xr);
          act[c] = (g / (1 + Math.exp(-g))) * u;
        }
        for (let c = 0; c < h; c++) out[r * h + c] += ws[r * k + j] * dot(dn(ex * h + c, tmpI), act);
      }
    }
    return this.make([t, h], out);
  }

  argmax(x: Tensor): Tensor {
    const xs = this.f32(x);
    const n = x.cols;
    const m = x.rows;
    const out = new Int32Array(m);
    for (let r = 0; r < m; r++) {
      let best = 0;
      for (let c = 1; c < n; c++) if (xs[r * n + c] > xs[r * n + best]) best = c;
      out[r] = best;
    }
    return this.make([m], out, 'i32');
  }
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** erf to double precision (W. J. Cody's rational approximations via the complementary function). */
export function erf(x: number): number {
  // Abramowitz-Stegun 7.1.26 is only 1e-7; use a series / continued fraction split for full f32 accuracy.
  const ax = Math.abs(x);
  if (ax < 2.5) {
    // Maclaurin series: erf(x) = 2/sqrt(pi) Σ (-1)^n x^(2n+1) / (n! (2n+1))
    let term = ax;
    let sum = ax;
    const x2 = ax * ax;
    for (let n = 1; n < 80; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    const r = (2 / Math.sqrt(Math.PI)) * sum;
    return x < 0 ? -r : r;
  }
  // Continued fraction for erfc (Lentz), accurate for x >= 2.5.
  let f = ax;
  let c = ax;
  let d = 0;
  for (let n = 1; n < 200; n++) {
    const an = n / 2;
    d = ax + an * d;
    d = 1 / d;
    c = ax + an / c;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return x < 0 ? erfc - 1 : 1 - erfc;
}
