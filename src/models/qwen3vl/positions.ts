// 3-D MRoPE position ids of a prompt (spec §5.3, `get_rope_index`): text runs advance all three axes together;
// each image, and each temporal group of a video, is a block at (P, P+row, P+col) and advances P by max(gh, gw).

import { InputError } from '../../errors.js';

export { InputError };

export interface VisionTokens {
  readonly imageTokenId: number;
  readonly videoTokenId: number;
  readonly spatialMergeSize: number;
}

export interface RopeIndex {
  /** Positions per axis (t, h, w), each of length S. */
  readonly positions: [Int32Array, Int32Array, Int32Array];
  /** max position + 1 − S: decode positions are cacheLength + ropeDelta. */
  readonly ropeDelta: number;
}

/** Validate a list of (t, h, w) grids. */
export function checkGrids(grids: readonly (readonly number[])[], what: string, merge: number): void {
  grids.forEach((g, i) => {
    if (!Array.isArray(g) || g.length !== 3 || !g.every((x) => Number.isSafeInteger(x) && x > 0)) {
      throw new InputError(`${what}[${i}] must be three positive integers (t, h, w), got ${JSON.stringify(g)}`);
    }
    if (g[1] % merge || g[2] % merge) throw new InputError(`${what}[${i}] = [${g}]: h and w must be divisible by the merge size ${merge}`);
  });
}

/**
 * Compute positions for `ids`. Image-token runs consume `imageGrids` in order; video-token runs consume the video
 * grids split per temporal group (each (t, h, w) becomes t blocks of (1, h, w)). Counts must match exactly.
 */
export function ropeIndex(ids: ArrayLike<number>, tok: VisionTokens, imageGrids: readonly (readonly number[])[] = [], videoGrids: readonly (readonly number[])[] = []): RopeIndex {
  const m = tok.spatialMergeSize;
  checkGrids(imageGrids, 'imageGridThw', m);
  checkGrids(videoGrids, 'videoGridThw', m);
  const videoBlocks = videoGrids.flatMap((g) => Array.from({ length: g[0] }, () => [1, g[1], g[2]]));
  const s = ids.length;
  const pt = new Int32Array(s);
  const ph = new Int32Array(s);
  const pw = new Int32Array(s);
  let p = 0;
  let nImg = 0;
  let nVid = 0;
  let i = 0;
  while (i < s) {
    const id = ids[i];
    if (id !== tok.imageTokenId && id !== tok.videoTokenId) {
      pt[i] = ph[i] = pw[i] = p++;
      i++;
      continue;
    }
    const isImage = id === tok.imageTokenId;
    const kind = isImage ? 'image' : 'video';
    const grids = isImage ? imageGrids : videoBlocks;
    const k = isImage ? nImg++ : nVid++;
    const g = grids[k];
    if (!g) {
      const total = isImage ? imageGrids.length : videoGrids.length;
      throw new InputError(`the prompt has more ${kind} token runs than the ${total} ${kind} grid(s) given (extra run at token ${i})`);
    }
    const gh = g[1] / m;
    const gw = g[2] / m;
    const n = gh * gw;
    for (let j = 0; j < n; j++, i++) {
      if (i >= s || ids[i] !== id) {
        throw new InputError(`${kind} ${isImage ? k : `group ${k}`} with grid [${g}] needs ${n} consecutive ${kind} tokens, but the run at token ${i - j} has ${j}`);
      }
      pt[i] = p;
      ph[i] = p + Math.floor(j / gw);
      pw[i] = p + (j % gw);
    }
    p += Math.max(gh, gw);
  }
  if (nImg !== imageGrids.length) throw new InputError(`${imageGrids.length} image grid(s) given, but the prompt holds ${nImg} image token run(s)`);
  if (nVid !== videoBlocks.length) throw new InputError(`the video grids hold ${videoBlocks.length} temporal group(s), but the prompt holds ${nVid} video token run(s)`);
  return { positions: [pt, ph, pw], ropeDelta: p - s };
}

/** Positions for `n` tokens continuing a sequence of `start` tokens with the given delta: all axes equal. */
export function decodePositions(start: number, n: number, ropeDelta: number): [Int32Array, Int32Array, Int32Array] {
  const a = Int32Array.from({ length: n }, (_, i) => start + i + ropeDelta);
  return [a, a, a];
}
