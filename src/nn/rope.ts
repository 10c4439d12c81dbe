// Rotary tables computed on the host in f32 (as the reference does): interleaved 3-D MRoPE for the text decoder
// and the 2-D (row, col) rotary of the vision tower. Backends only apply them (`Backend.rope`).

const f = Math.fround;

/** inv_freq[j] = 1 / theta^(2j/dim), j < dim/2, with f32 rounding at each step like torch. */
export function invFreq(theta: number, dim: number): Float32Array {
  const out = new Float32Array(dim / 2);
  for (let j = 0; j < dim / 2; j++) out[j] = f(1 / f(theta ** f((2 * j) / dim)));
  return out;
}

/**
 * Text MRoPE cos/sin [T, hd] for positions (t, h, w) per token. Frequency j takes its angle from axis H when
 * j % 3 == 1 and j < 3·section[1], from W when j % 3 == 2 and j < 3·section[2], else from T (interleaved layout).
 */
export function mropeTables(pos: readonly [ArrayLike<number>, ArrayLike<number>, ArrayLike<number>], headDim: number, theta: number, section: readonly number[]) {
  const inv = invFreq(theta, headDim);
  const half = headDim / 2;
  const axis = Array.from({ length: half }, (_, j) => (j % 3 === 1 && j < 3 * section[1] ? 1 : j % 3 === 2 && j < 3 * section[2] ? 2 : 0));
  const n = pos[0].length;
  const cos = new Float32Array(n * headDim);
  const sin = new Float32Array(n * headDim);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < half; j++) {
      const a = f(pos[axis[j]][i] * inv[j]);
      const c = Math.cos(a);
      const s = Math.sin(a);
      cos[i * headDim + j] = cos[i * headDim + j + half] = c;
      sin[i * headDim + j] = sin[i * headDim + j + half] = s;
    }
  }
  return { cos, sin };
}

/**
 * Vision 2-D rotary cos/sin [N, hdv] for patches at (row, col): theta = [row·inv, col·inv] (hdv/2 values, inv over
 * dim hdv/2), duplicated to hdv.
 */
export function visionRopeTables(rows: ArrayLike<number>, cols: ArrayLike<number>, headDim: number, theta: number) {
  const rd = headDim / 2;
  const inv = invFreq(theta, rd);
  const q = rd / 2;
  const n = rows.length;
  const cos = new Float32Array(n * headDim);
  const sin = new Float32Array(n * headDim);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < rd; j++) {
      const a = j < q ? f(rows[i] * inv[j]) : f(cols[i] * inv[j - q]);
      const c = Math.cos(a);
      const s = Math.sin(a);
      cos[i * headDim + j] = cos[i * headDim + j + rd] = c;
      sin[i * headDim + j] = sin[i * headDim + j + rd] = s;
    }
  }
  return { cos, sin };
}
