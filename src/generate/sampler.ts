// Token selection from last-position logits: penalties, then temperature, top-k, top-p and min-p, then a seeded
// draw. Order follows Hugging Face's pipeline (repetition penalty → temperature → top-k → top-p → min-p).

import { argmax } from '../tensor/math.js';
import { SamplingError } from '../errors.js';
import { mulberry32 } from './rng.js';

export interface SamplingOptions {
  /** 0 (or doSample false) means greedy. */
  readonly temperature?: number;
  readonly topK?: number;
  readonly topP?: number;
  readonly minP?: number;
  /** Hugging Face style: divides positive / multiplies negative logits of every token seen (prompt and output). */
  readonly repetitionPenalty?: number;
  /** OpenAI/vLLM style: subtracted once from the logits of tokens already generated. */
  readonly presencePenalty?: number;
  /** OpenAI/vLLM style: subtracted per occurrence in the generated tokens. */
  readonly frequencyPenalty?: number;
  readonly seed?: number;
}

export { SamplingError };

export function validateSampling(o: SamplingOptions): void {
  const check = (name: keyof SamplingOptions, ok: (v: number) => boolean, want: string) => {
    const v = o[name];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || !ok(v))) throw new SamplingError(`${name} must be ${want} (got ${String(v)})`);
  };
  check('temperature', (v) => v >= 0, 'a number ≥ 0');
  check('topK', (v) => Number.isInteger(v) && v >= 0, 'an integer ≥ 0 (0 disables it)');
  check('topP', (v) => v > 0 && v <= 1, 'in (0, 1]');
  check('minP', (v) => v >= 0 && v <= 1, 'in [0, 1]');
  check('repetitionPenalty', (v) => v > 0, 'a number > 0');
  check('presencePenalty', (v) => v >= -2 && v <= 2, 'in [-2, 2]');
  check('frequencyPenalty', (v) => v >= -2 && v <= 2, 'in [-2, 2]');
  check('seed', (v) => Number.isInteger(v), 'an integer');
}

export class Sampler {
  private readonly rand: () => number;

  constructor(readonly opts: SamplingOptions = {}) {
    validateSampling(opts);
    this.rand = mulberry32(opts.seed ?? (Math.random() * 2 ** 32) >>> 0);
  }

  /**
   * True when `sample` is a plain argmax of the logits (temperature 0, no penalties): the caller may then take the
   * argmax on the backend (`greedySteps` in generate/greedy.ts) and never copy the logits to the host.
   */
  get greedy(): boolean {
    const o = this.opts;
    return (o.temperature ?? 1) === 0 && (o.repetitionPenalty ?? 1) === 1 && !o.presencePenalty && !o.frequencyPenalty;
  }

  /** Pick the next token. `context` is every token so far (prompt + output), `generated` the output alone. */
  sample(logits: Float32Array, context: ArrayLike<number>, generated: ArrayLike<number>): number {
    const o = this.opts;
    let l = logits;
    if ((o.repetitionPenalty ?? 1) !== 1 || o.presencePenalty || o.frequencyPenalty) l = applyPenalties(logits, context, generated, o);
    const t = o.temperature ?? 1;
    if (t === 0) return argmax(l);
    const cand = candidates(l, o.topK ?? 0);
    // Softmax over the candidates at temperature t (f64).
    const max = l[cand[0]];
    let p = cand.map((i) => Math.exp((l[i] - max) / t));
    let sum = p.reduce((a, b) => a + b, 0);
    p = p.map((x) => x / sum);
    let keep = p.length;
    if (o.topP !== undefined && o.topP < 1) {
      // Smallest prefix whose mass reaches top_p (at least one token).
      let c = 0;
      for (let i = 0; i < p.length; i++) {
        c += p[i];
        if (c >= o.topP) {
          keep = i + 1;
          break;
        }
      }
    }
    if (o.minP) {
      const floor = o.minP * p[0];
      while (keep > 1 && p[keep - 1] < floor) keep--;
    }
    sum = 0;
    for (let i = 0; i < keep; i++) sum += p[i];
    let r = this.rand() * sum;
    for (let i = 0; i < keep; i++) {
      r -= p[i];
      if (r < 0) return cand[i];
    }
    return cand[keep - 1];
  }
}

function applyPenalties(logits: Float32Array, context: ArrayLike<number>, generated: ArrayLike<number>, o: SamplingOptions): Float32Array {
  const l = Float32Array.from(logits);
  const rp = o.repetitionPenalty ?? 1;
  if (rp !== 1) {
    const seen = new Set<number>();
    for (let i = 0; i < context.length; i++) seen.add(context[i]);
    for (const id of seen) l[id] = l[id] > 0 ? l[id] / rp : l[id] * rp;
  }
  if (o.presencePenalty || o.frequencyPenalty) {
    const counts = new Map<number, number>();
    for (let i = 0; i < generated.length; i++) counts.set(generated[i], (counts.get(generated[i]) ?? 0) + 1);
    for (const [id, n] of counts) l[id] -= (o.presencePenalty ?? 0) + (o.frequencyPenalty ?? 0) * n;
  }
  return l;
}

/** Token ids sorted by logit, descending (ties: lower id first); only the top k when k > 0. */
function candidates(l: Float32Array, k: number): number[] {
  if (k > 0 && k < l.length) {
    // Keep a sorted window of the k best: O(V·k) worst case but O(V) in practice for small k.
    const best: number[] = [];
    for (let i = 0; i < l.length; i++) {
      if (best.length === k && l[i] <= l[best[k - 1]]) continue;
      let j = best.length === k ? k - 1 : best.length;
      while (j > 0 && l[best[j - 1]] < l[i]) {
        best[j] = best[j - 1];
        j--;
      }
      best[j] = i;
      if (best.length > k) best.length = k;
    }
    return best;
  }
  const idx = Array.from(l.keys());
  return idx.sort((a, b) => l[b] - l[a] || a - b);
}
