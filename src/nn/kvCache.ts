// Per-layer key/value cache on the backend: post-norm, post-RoPE keys and values, grown by doubling.
import type { Backend, PagedAttentionOptions } from '../backend/backend.js';
import { keep, type Tensor } from '../tensor/tensor.js';
import type { KvBinding, KvTarget } from './kvBinding.js';

export class KvCache implements KvBinding {
  private k: Tensor[] = [];
  private v: Tensor[] = [];
  private cap = 0;
  /** Tokens stored (the same for every layer once a step completes). */
  length = 0;
  /** MRoPE offset carried from the prefill into decoding (spec §5.4). */
  ropeDelta = 0;

  constructor(
    private readonly backend: Backend,
    readonly numLayers: number,
    readonly width: number, // nkv·hd
    readonly maxLength: number,
  ) {}

  /** Make room for `n` more tokens (call once per step, before the layers). */
  reserve(n: number): void {
    const need = this.length + n;
    if (need > this.maxLength) throw new Error(`KV cache: ${need} tokens exceed the context limit of ${this.maxLength}`);
    if (need <= this.cap) return;
    const cap = Math.min(this.maxLength, Math.max(need, this.cap * 2, 64));
    for (let l = 0; l < this.numLayers; l++) {
      for (const arr of [this.k, this.v]) {
        const old = arr[l];
        const t = keep(this.backend.zeros([cap, this.width]));
        if (old && this.length > 0) {
          const head = this.backend.sliceRows(old, 0, this.length);
          this.backend.writeRows(t, 0, head);
          head.dispose();
        }
        old?.dispose();
        arr[l] = t;
      }
    }
    this.cap = cap;
  }

  begin(T: number): void {
    this.reserve(T);
  }

  target(l: number): KvTarget {
    return { k: this.k[l], v: this.v[l], row0: this.length };
  }

  attend(_l: number, q: Tensor, t: KvTarget, o: PagedAttentionOptions): Tensor {
    return this.backend.attention(q, t.k, t.v, { ...o, kvLen: this.length + q.rows, causal: true });
  }

  end(T: number): void {
    this.length += T;
  }

  /** Layer l's key and value tensors [capacity, nkv·hd] (rows [0, length) hold tokens). */
  layer(l: number): { k: Tensor; v: Tensor } {
    return { k: this.k[l], v: this.v[l] };
  }

  /** Forget everything (the cache can be reused for another prompt). */
  reset(): void {
    this.length = 0;
    this.ropeDelta = 0;
  }

  dispose(): void {
    for (const t of [...this.k, ...this.v]) t.dispose();
    this.k = [];
    this.v = [];
    this.cap = 0;
    this.length = 0;
  }
}
