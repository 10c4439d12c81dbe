// Antialiased bicubic resize of uint8 RGB images, an exact port of the two reference resamplers:
// torchvision/ATen's uint8 kernel (int16 weights with a per-axis precision) and PIL's (int32 weights, 22 bits).
// Both: separable, horizontal pass first into a uint8 buffer, Keys cubic with a = -0.5, support scaled by the
// downscale factor, weights normalised per output pixel, fixed-point accumulate with +0.5 rounding, clamp to 0..255.

export type Resampler = 'torchvision' | 'pil';

/** Keys cubic convolution kernel, a = -0.5 (the value both references use with antialiasing). */
function bicubic(x: number): number {
  const a = -0.5;
  x = Math.abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

export interface AxisWeights {
  /** First input index used by each output index. */
  readonly start: Int32Array;
  /** Number of input indices used by each output index. */
  readonly count: Int32Array;
  /** Fixed-point weights, `taps` per output index. */
  readonly weights: Int32Array;
  readonly taps: number;
  /** Fixed-point precision in bits. */
  readonly precision: number;
}

/** Float weights exactly as both references compute them (float64, same operation order). */
function floatWeights(inSize: number, outSize: number) {
  const scale = inSize / outSize;
  const support = scale >= 1 ? 2 * scale : 2;
  const invScale = scale >= 1 ? 1 / scale : 1;
  const taps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const w = new Float64Array(outSize * taps);
  let wMax = 0;
  for (let i = 0; i < outSize; i++) {
    const center = scale * (i + 0.5);
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xsize = Math.min(Math.max(Math.min(Math.trunc(center + support + 0.5), inSize) - xmin, 0), taps);
    let total = 0;
    for (let j = 0; j < xsize; j++) {
      const v = bicubic((j + xmin - center + 0.5) * invScale);
      w[i * taps + j] = v;
      total += v;
    }
    if (total !== 0) {
      for (let j = 0; j < xsize; j++) {
        w[i * taps + j] /= total;
        if (w[i * taps + j] > wMax) wMax = w[i * taps + j];
      }
    }
    start[i] = xmin;
    count[i] = xsize;
  }
  return { start, count, w, taps, wMax };
}

/** Round half away from zero, as the C casts `(int)(v ± 0.5)` in both references do. */
function toFixedPoint(v: number): number {
  return v < 0 ? Math.trunc(-0.5 + v) : Math.trunc(0.5 + v);
}

export function axisWeights(inSize: number, outSize: number, resampler: Resampler): AxisWeights {
  const { start, count, w, taps, wMax } = floatWeights(inSize, outSize);
  let precision: number;
  if (resampler === 'pil') {
    precision = 22; // 32 bits − 8 (pixel) − 2 (headroom), fixed in PIL
  } else {
    // ATen: the largest precision (< 22) whose scaled maximum weight still fits an int16 with one bit to spare.
    for (precision = 0; precision < 22; precision++) {
      if (Math.trunc(0.5 + wMax * 2 ** (precision + 1)) >= 1 << 15) break;
    }
  }
  const scale = 2 ** precision;
  const weights = new Int32Array(w.length);
  for (let k = 0; k < w.length; k++) weights[k] = toFixedPoint(w[k] * scale);
  return { start, count, weights, taps, precision };
}

function clampShift(acc: number, precision: number): number {
  const v = Math.floor(acc / 2 ** precision);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Resample the rows of an interleaved uint8 image (width changes). */
function horizontal(src: Uint8Array, w: number, h: number, c: number, outW: number, ax: AxisWeights): Uint8Array {
  const out = new Uint8Array(outW * h * c);
  const half = ax.precision > 0 ? 2 ** (ax.precision - 1) : 0;
  for (let y = 0; y < h; y++) {
    const row = y * w * c;
    for (let x = 0; x < outW; x++) {
      const s = ax.start[x];
      const n = ax.count[x];
      const k = x * ax.taps;
      for (let ch = 0; ch < c; ch++) {
        let acc = half;
        for (let j = 0; j < n; j++) acc += src[row + (s + j) * c + ch] * ax.weights[k + j];
        out[(y * outW + x) * c + ch] = clampShift(acc, ax.precision);
      }
    }
  }
  return out;
}

/** Resample the columns of an interleaved uint8 image (height changes). */
function vertical(src: Uint8Array, w: number, c: number, outH: number, ax: AxisWeights): Uint8Array {
  const out = new Uint8Array(w * outH * c);
  const half = ax.precision > 0 ? 2 ** (ax.precision - 1) : 0;
  const stride = w * c;
  for (let y = 0; y < outH; y++) {
    const s = ax.start[y];
    const n = ax.count[y];
    const k = y * ax.taps;
    for (let i = 0; i < stride; i++) {
      let acc = half;
      for (let j = 0; j < n; j++) acc += src[(s + j) * stride + i] * ax.weights[k + j];
      out[y * stride + i] = clampShift(acc, ax.precision);
    }
  }
  return out;
}

/**
 * Resize an interleaved (HWC) uint8 image to outH × outW. An unchanged axis is skipped, as in both references
 * (their identity weights would give the same pixels anyway).
 */
export function resizeBicubicAA(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
  resampler: Resampler = 'torchvision',
): Uint8Array {
  if (src.length !== width * height * channels) {
    throw new RangeError(`resize: buffer has ${src.length} bytes, expected ${width}x${height}x${channels}`);
  }
  if (outWidth <= 0 || outHeight <= 0 || width <= 0 || height <= 0) {
    throw new RangeError(`resize: sizes must be positive (${width}x${height} -> ${outWidth}x${outHeight})`);
  }
  let buf = src;
  let w = width;
  if (outWidth !== width) {
    buf = horizontal(buf, w, height, channels, outWidth, axisWeights(width, outWidth, resampler));
    w = outWidth;
  }
  if (outHeight !== height) buf = vertical(buf, w, channels, outHeight, axisWeights(height, outHeight, resampler));
  return buf === src ? src.slice() : buf;
}
