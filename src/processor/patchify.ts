// Normalise resized RGB frames and cut them into the vision tower's patch rows: rows ordered (t, block row,
// block col, intra row, intra col), columns (channel, frame-in-patch, y, x) — spec §4.1. The last frame is
// repeated to fill the final temporal patch.

export interface PatchParams {
  patchSize: number;
  temporalPatchSize: number;
  mergeSize: number;
  imageMean: readonly number[];
  imageStd: readonly number[];
  rescaleFactor: number;
}

/**
 * Per-channel float32 lookup for uint8 values. The reference fuses rescale into mean/std (mean/rescale,
 * std/rescale, as float32) and computes (x − mean) / std in float32; JS double ops rounded once give the same bits.
 */
export function normalisationTable(p: PatchParams): Float32Array[] {
  const tables: Float32Array[] = [];
  for (let c = 0; c < 3; c++) {
    const mean = Math.fround(p.imageMean[c] * (1 / p.rescaleFactor));
    const std = Math.fround(p.imageStd[c] * (1 / p.rescaleFactor));
    const t = new Float32Array(256);
    for (let v = 0; v < 256; v++) t[v] = Math.fround(Math.fround(v - mean) / std);
    tables.push(t);
  }
  return tables;
}

/** Rows per temporal group and the grid of a clip of `frames` frames of height × width pixels. */
export function patchGrid(frames: number, height: number, width: number, p: PatchParams): [number, number, number] {
  const factor = p.patchSize * p.mergeSize;
  if (height % factor !== 0 || width % factor !== 0) {
    throw new RangeError(`patchify: ${width}x${height} is not a multiple of ${factor}`);
  }
  return [Math.ceil(frames / p.temporalPatchSize), height / p.patchSize, width / p.patchSize];
}

/**
 * Patchify already-resized frames (each HWC uint8 RGB, height × width) into `out` starting at row `rowOffset`
 * (or a fresh array). Returns the rows and the grid [t, h, w].
 */
export function patchify(
  frames: readonly Uint8Array[],
  height: number,
  width: number,
  p: PatchParams,
  tables: Float32Array[] = normalisationTable(p),
): { data: Float32Array; grid: [number, number, number] } {
  if (frames.length === 0) throw new RangeError('patchify: no frames');
  for (const f of frames) {
    if (f.length !== height * width * 3) throw new RangeError(`patchify: frame has ${f.length} bytes, expected ${width}x${height}x3`);
  }
  const [gt, gh, gw] = patchGrid(frames.length, height, width, p);
  const P = p.patchSize;
  const T = p.temporalPatchSize;
  const M = p.mergeSize;
  const rowLen = 3 * T * P * P;
  const data = new Float32Array(gt * gh * gw * rowLen);
  let row = 0;
  for (let ti = 0; ti < gt; ti++) {
    for (let br = 0; br < gh / M; br++) {
      for (let bc = 0; bc < gw / M; bc++) {
        for (let ir = 0; ir < M; ir++) {
          for (let ic = 0; ic < M; ic++) {
            const py = (br * M + ir) * P;
            const px = (bc * M + ic) * P;
            const base = row * rowLen;
            for (let tt = 0; tt < T; tt++) {
              const f = frames[Math.min(ti * T + tt, frames.length - 1)];
              for (let y = 0; y < P; y++) {
                const src = ((py + y) * width + px) * 3;
                for (let x = 0; x < P; x++) {
                  const s = src + x * 3;
                  for (let c = 0; c < 3; c++) data[base + ((c * T + tt) * P + y) * P + x] = tables[c][f[s + c]];
                }
              }
            }
            row++;
          }
        }
      }
    }
  }
  return { data, grid: [gt, gh, gw] };
}
