// The vision-feature cache: merged visual tokens and DeepStack features of each image or video, keyed by the SHA-256
// of its processed pixels and grid (prefixKeys.ts), bounded in bytes, least recently used out first. A chat that
// re-sends an image (every turn of a conversation) runs the vision tower for it once.

import type { EncodedVision, PrecomputedVision, Qwen3VLModel } from '../models/qwen3vl/model.js';
import { mediaItems, type MediaItem, type MediaPrompt } from './prefixKeys.js';

/** Default budget: a few dozen 448² images on the 2B (8 MiB each: 256 tokens × 2048 × 4 levels × f32). */
export const DEFAULT_VISION_CACHE_MB = 256;

export interface VisionCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly evictions: number;
  readonly entries: number;
  readonly bytes: number;
  readonly capacityBytes: number;
}

const bytesOf = (v: EncodedVision) => (v.merged.length + v.deepstack.reduce((a, d) => a + d.length, 0)) * 4;

/** One per model: features depend on the weights, which the key does not name. */
export class VisionCache {
  // A Map iterates in insertion order: re-inserting on every hit keeps the least recently used first.
  private readonly entries = new Map<string, EncodedVision>();
  private used = 0;
  private counts = { hits: 0, misses: 0, evictions: 0 };

  constructor(readonly capacityBytes: number) {
    if (!Number.isFinite(capacityBytes) || capacityBytes < 0) throw new RangeError(`vision cache size must be a non-negative number of bytes (got ${capacityBytes})`);
  }

  /** A budget in MB (10⁶ bytes), as the CLI and server flags give it. */
  static ofMb(mb: number): VisionCache {
    if (!Number.isFinite(mb) || mb < 0) throw new RangeError(`visionCacheMb must be a non-negative number (got ${mb})`);
    return new VisionCache(Math.floor(mb * 1e6));
  }

  get(key: string): EncodedVision | undefined {
    const v = this.entries.get(key);
    if (!v) {
      this.counts.misses++;
      return undefined;
    }
    this.counts.hits++;
    this.entries.delete(key);
    this.entries.set(key, v);
    return v;
  }

  /** Store (evicting the least recently used entries); an entry larger than the whole cache is not kept. */
  put(key: string, v: EncodedVision): void {
    const size = bytesOf(v);
    const old = this.entries.get(key);
    if (old) {
      this.entries.delete(key);
      this.used -= bytesOf(old);
    }
    if (size > this.capacityBytes) return;
    for (const [k, e] of this.entries) {
      if (this.used + size <= this.capacityBytes) break;
      this.entries.delete(k);
      this.used -= bytesOf(e);
      this.counts.evictions++;
    }
    this.entries.set(key, v);
    this.used += size;
  }

  stats(): VisionCacheStats {
    return { ...this.counts, entries: this.entries.size, bytes: this.used, capacityBytes: this.capacityBytes };
  }

  clear(): void {
    this.entries.clear();
    this.used = 0;
  }
}

/** The processor and tower settings that shape features beyond the pixels and the grid (part of every key). */
export function visionSettings(model: Qwen3VLModel): string {
  const v = model.config.vision;
  return `patch=${v.patchSize},temporal=${v.temporalPatchSize},merge=${v.spatialMergeSize},depth=${v.depth},out=${model.config.text.hiddenSize}`;
}

/** The prompt's images and videos with their content hashes, as this model keys them (vision cache and KV blocks). */
export function modelMediaItems(model: Qwen3VLModel, prompt: MediaPrompt): MediaItem[] {
  const c = model.config;
  return mediaItems(prompt, { imageTokenId: c.imageTokenId, videoTokenId: c.videoTokenId, spatialMergeSize: c.vision.spatialMergeSize }, visionSettings(model));
}

/** Features of each item, in order: from `cache`, or the tower run on that item alone (then stored). */
export async function encodeItems(model: Qwen3VLModel, items: readonly MediaItem[], cache: VisionCache): Promise<EncodedVision[]> {
  const feats: EncodedVision[] = [];
  for (const it of items) {
    let f = cache.get(it.hash);
    if (!f) {
      f = await model.encodeImages(it.pixels, [it.grid]);
      cache.put(it.hash, f);
    }
    feats.push(f);
  }
  return feats;
}

/**
 * Features of every image and video of a prepared prompt, through `cache`: each item missing from it runs through
 * the tower alone (so a hit and a miss give the same bytes) and is stored. `items` may be given when the caller
 * already split the prompt (modelMediaItems), e.g. to key its KV blocks with the same hashes.
 */
export async function encodeMedia(model: Qwen3VLModel, prompt: MediaPrompt, cache: VisionCache, items?: readonly MediaItem[]): Promise<PrecomputedVision> {
  const list = items ?? modelMediaItems(model, prompt);
  const feats = await encodeItems(model, list, cache);
  const join = (kind: MediaItem['kind']): EncodedVision | undefined => {
    const fs = feats.filter((_, i) => list[i].kind === kind);
    if (!fs.length) return undefined;
    if (fs.length === 1) return fs[0];
    const cat = (parts: Float32Array[]) => {
      const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
      parts.reduce((o, p) => (out.set(p, o), o + p.length), 0);
      return out;
    };
    return {
      merged: cat(fs.map((f) => f.merged)),
      deepstack: fs[0].deepstack.map((_, j) => cat(fs.map((f) => f.deepstack[j]))),
      tokens: fs.reduce((a, f) => a + f.tokens, 0),
    };
  };
  return { images: join('image'), videos: join('video') };
}
