// The seam between the decoder's layers and the KV storage: a contiguous single-sequence cache (nn/kvCache.ts) or a
// paged ragged batch over the block pool (nn/kvPool.ts). The layer computes q/k/v; the binding stores and attends.

import type { PagedAttentionOptions } from '../backend/backend.js';
import type { Tensor } from '../tensor/tensor.js';

/** Where `qkvPost` writes a layer's new keys and values: rows [row0, row0 + T) of k and v. */
export interface KvTarget {
  readonly k: Tensor;
  readonly v: Tensor;
  readonly row0: number;
}

export interface KvBinding {
  /** Before the layers: room for T new tokens. */
  begin(T: number): void;
  target(l: number, T: number): KvTarget;
  /** After qkvPost filled `t`: causal attention of q [T, nh·hd] over the stored keys → [T, nh·hd]. */
  attend(l: number, q: Tensor, t: KvTarget, opts: PagedAttentionOptions): Tensor;
  /** After the layers: the T tokens are stored. */
  end(T: number): void;
}
