// Content keys for prefix reuse and the vision-feature cache: a SHA-256 per image/video over its pixel bytes, grid
// and processor settings, and a SHA-256 chain over full KV blocks of token ids where each block also names the media
// runs it overlaps (item hash, run, offset in the block). Pure: no model, no backend.

import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { nodeImport } from '../io/sourceBase.js';

/** Node's native SHA-256 (about 10x faster over megabytes of pixels) once loaded; the pure one before and in browsers: the same digest. */
let nativeSha: ((parts: readonly Uint8Array[]) => Uint8Array) | null = null;
if ((globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node) {
  nodeImport<typeof import('node:crypto')>('node:crypto').then(
    (c) => {
      nativeSha = (parts) => {
        const h = c.createHash('sha256');
        for (const p of parts) h.update(p);
        return new Uint8Array(h.digest());
      };
    },
    () => {},
  );
}

export type MediaKind = 'image' | 'video';

/** One image or video of a prompt and where its placeholder tokens sit. */
export interface MediaItem {
  readonly kind: MediaKind;
  /** SHA-256 (64 hex digits) of kind, grid, processor settings and every pixel byte: never a short hash. */
  readonly hash: string;
  readonly grid: readonly number[];
  /** Placeholder runs [start, length] in token order; a video has one run per temporal patch. */
  readonly runs: readonly (readonly [number, number])[];
  /** Its patches [t·h·w, patchDim] (a view into the prompt's pixel values). */
  readonly pixels: Float32Array;
}

/** What `mediaItems` needs of the prompt (the processor's PreparedInputs has it). */
export interface MediaPrompt {
  readonly inputIds: ArrayLike<number>;
  readonly pixelValues?: Float32Array;
  readonly imageGridThw?: readonly (readonly number[])[];
  readonly pixelValuesVideos?: Float32Array;
  readonly videoGridThw?: readonly (readonly number[])[];
}

export interface MediaTokens {
  readonly imageTokenId: number;
  readonly videoTokenId: number;
  readonly spatialMergeSize: number;
}

/**
 * The content hash of one item. `settings` names everything else that shapes its features (processor config,
 * resampler; the caller's choice); the pixels are the processed patches, so resize and normalisation are in them.
 */
export function mediaHash(kind: MediaKind, pixels: Float32Array, grid: readonly number[], settings: string): string {
  const parts = [utf8ToBytes(`qwen3-vl media v1\0${kind}\0${grid.join(',')}\0${settings}\0${pixels.length}\0`), new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength)];
  if (nativeSha) return bytesToHex(nativeSha(parts));
  const h = sha256.create();
  for (const p of parts) h.update(p);
  return bytesToHex(h.digest());
}

/**
 * Split a prompt's pixel values into items (images, then videos: each list in prompt order) and locate their
 * placeholder runs. Throws when the ids and grids disagree (the model's own validation says the same later).
 */
export function mediaItems(p: MediaPrompt, tok: MediaTokens, settings = ''): MediaItem[] {
  const m2 = tok.spatialMergeSize ** 2;
  const split = (kind: MediaKind, pixels: Float32Array | undefined, grids: readonly (readonly number[])[]) => {
    if (!grids.length) return [];
    const patches = grids.reduce((a, [t, h, w]) => a + t * h * w, 0);
    if (!pixels || pixels.length % patches) throw new RangeError(`${kind} pixel values (${pixels?.length ?? 0} values) do not split into ${patches} patches`);
    const dim = pixels.length / patches;
    let o = 0;
    return grids.map((g) => {
      const n = g[0] * g[1] * g[2] * dim;
      const px = pixels.subarray(o, (o += n));
      return { kind, grid: g, pixels: px, hash: mediaHash(kind, px, g, settings), runs: [] as [number, number][] };
    });
  };
  const images = split('image', p.pixelValues, p.imageGridThw ?? []);
  const videos = split('video', p.pixelValuesVideos, p.videoGridThw ?? []);
  // Walk the placeholder runs: an image takes one run, a video one run per temporal patch.
  const ids = p.inputIds;
  let img = 0;
  let vid = 0;
  let vidRun = 0;
  for (let i = 0; i < ids.length; ) {
    const id = ids[i];
    if (id !== tok.imageTokenId && id !== tok.videoTokenId) {
      i++;
      continue;
    }
    const isImage = id === tok.imageTokenId;
    const item = isImage ? images[img] : videos[vid];
    if (!item) throw new RangeError(`the prompt has more ${isImage ? 'image' : 'video'} placeholder runs than grids`);
    const len = (item.grid[1] * item.grid[2]) / m2;
    let j = i;
    while (j < ids.length && ids[j] === id && j - i < len) j++;
    if (j - i !== len) throw new RangeError(`${item.kind} with grid [${item.grid}] needs runs of ${len} placeholders; the run at token ${i} has ${j - i}`);
    item.runs.push([i, len]);
    if (isImage) img++;
    else if (++vidRun === item.grid[0]) {
      vid++;
      vidRun = 0;
    }
    i = j;
  }
  if (img !== images.length || vid !== videos.length || vidRun) throw new RangeError('the prompt has fewer placeholder runs than its images and videos need');
  return [...images, ...videos];
}

/** The key before block 0: model, weights and KV format go here, so different caches never share keys. */
export function chainSeed(salt: string): string {
  return bytesToHex(sha256(utf8ToBytes(`qwen3-vl prefix v1\0${salt}`)));
}

/**
 * Keys of the full blocks of `ids` (floor(len / blockSize) of them): key[i] = SHA-256(key[i−1], block i's ids, the
 * media runs overlapping block i as (item hash, run index, run start − block start)). Equal keys mean equal ids and
 * equal media at the same offsets in the whole prefix, hence equal KV (positions follow from the same prefix).
 * `from`/`parent` resume a chain: keys of blocks from `from` on, after the key of block from−1.
 */
export function blockKeys(ids: ArrayLike<number>, items: readonly MediaItem[], blockSize: number, seed: string, from = 0, parent = seed): string[] {
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new RangeError(`blockSize must be a positive integer (got ${blockSize})`);
  const n = Math.floor(ids.length / blockSize);
  // Runs sorted by start, each with its item and index.
  const runs = items.flatMap((it) => it.runs.map(([s, len], r) => ({ s, len, r, hash: hexToBytes(it.hash) }))).sort((a, b) => a.s - b.s);
  const keys: string[] = [];
  const toks = new Int32Array(blockSize);
  const tokBytes = new Uint8Array(toks.buffer);
  const head = new Int32Array(3);
  let prev = hexToBytes(parent);
  let k = 0;
  for (let b = from; b < n; b++) {
    const s0 = b * blockSize;
    const s1 = s0 + blockSize;
    for (let i = 0; i < blockSize; i++) toks[i] = ids[s0 + i];
    const h = sha256.create();
    h.update(prev);
    head[0] = blockSize;
    h.update(new Uint8Array(head.buffer, 0, 4));
    h.update(tokBytes);
    while (k < runs.length && runs[k].s + runs[k].len <= s0) k++;
    for (let j = k; j < runs.length && runs[j].s < s1; j++) {
      if (runs[j].s + runs[j].len <= s0) continue;
      h.update(runs[j].hash);
      head[0] = runs[j].r;
      head[1] = runs[j].s - s0;
      head[2] = runs[j].len;
      h.update(new Uint8Array(head.buffer));
    }
    prev = h.digest();
    keys.push(bytesToHex(prev));
  }
  return keys;
}
