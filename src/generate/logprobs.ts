// Log-probabilities of a chosen token and the most likely alternatives, from one logits row (the model's raw
// distribution, before temperature, penalties or a grammar mask: what OpenAI and vLLM report).

export interface TopLogprob {
  readonly token: number;
  readonly logprob: number;
}

export interface TokenLogprob extends TopLogprob {
  /** The `top` most likely tokens, most likely first (ties: lower id first). */
  readonly top: readonly TopLogprob[];
}

/** Most alternatives one step may ask for (OpenAI's limit). */
export const MAX_TOP_LOGPROBS = 20;

/** log p(token) and the `top` best tokens of softmax(row), in f64. */
export function tokenLogprob(row: Float32Array, token: number, top = 0): TokenLogprob {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  const lse = max + Math.log(sum);
  const lp = (i: number) => Math.max(row[i] - lse, -9999);
  return { token, logprob: lp(token), top: topK(row, top).map((i) => ({ token: i, logprob: lp(i) })) };
}

/** Indices of the k largest values, descending (insertion into a window of k; k ≤ 20). */
function topK(row: Float32Array, k: number): number[] {
  const best: number[] = [];
  if (k <= 0) return best;
  for (let i = 0; i < row.length; i++) {
    if (best.length === k && !(row[i] > row[best[k - 1]])) continue;
    let j = Math.min(best.length, k - 1);
    while (j > 0 && row[best[j - 1]] < row[i]) {
      best[j] = best[j - 1];
      j--;
    }
    best[j] = i;
  }
  return best;
}
