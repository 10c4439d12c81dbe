// Fuzz harness: mutate seed inputs for a time budget (FUZZ_SECONDS, default 3 per target in CI; `npm run fuzz` runs
// longer) and require that every failure is one of the expected typed errors. Counts are reported.
import { mulberry32 } from '../../src/generate/rng.js';

export const fuzzSeconds = Number(process.env.FUZZ_SECONDS ?? 3);

export interface FuzzStats {
  tried: number;
  accepted: number;
  rejected: number;
  /** Slowest single input, ms (a hang shows here, or as a test time-out). */
  maxMs: number;
  /** Peak resident memory of the test process during the run, MB (an unbounded allocation shows here). */
  peakRssMb: number;
}


/** Run `once(rand, i)` repeatedly until the budget is spent; it returns true if the input was accepted. */
export async function fuzz(name: string, once: (r: () => number, i: number) => Promise<boolean> | boolean, seed = 1): Promise<FuzzStats> {
  const r = mulberry32(seed);
  const stats: FuzzStats = { tried: 0, accepted: 0, rejected: 0, maxMs: 0, peakRssMb: 0 };
  const end = Date.now() + fuzzSeconds * 1000;
  let yielded = Date.now();
  while (Date.now() < end) {
    // Synchronous targets never reach the event loop on their own; the test runner's RPC needs it now and then.
    if (Date.now() - yielded > 50) {
      await new Promise((r) => setImmediate(r));
      yielded = Date.now();
    }
    const t0 = performance.now();
    if (await once(r, stats.tried)) stats.accepted++;
    else stats.rejected++;
    stats.tried++;
    stats.maxMs = Math.max(stats.maxMs, performance.now() - t0);
    stats.peakRssMb = Math.max(stats.peakRssMb, process.memoryUsage.rss() / 2 ** 20);
  }
  console.log(
    `[fuzz ${name}] tried ${stats.tried}: ${stats.accepted} accepted, ${stats.rejected} rejected with typed errors; ` +
      `slowest ${stats.maxMs.toFixed(0)} ms, peak RSS ${stats.peakRssMb.toFixed(0)} MB`,
  );
  return stats;
}

export const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
export const int = (r: () => number, n: number) => Math.floor(r() * n);

/** Byte-level mutations: flips, overwrites with interesting values, insertions, deletions, truncation. */
export function mutateBytes(r: () => number, src: Uint8Array): Uint8Array {
  let b = Uint8Array.from(src);
  const n = 1 + int(r, 4);
  for (let k = 0; k < n; k++) {
    const op = int(r, 5);
    const at = int(r, Math.max(1, b.length));
    if (op === 0) b[at] ^= 1 << int(r, 8);
    else if (op === 1) b[at] = pick(r, [0, 0xff, 0x7f, 0x80, 0x22, 0x7b, 0x7d, 0x5b, 0x2c, 0x30, 0x39]);
    else if (op === 2) b = Uint8Array.from([...b.subarray(0, at), int(r, 256), ...b.subarray(at)]);
    else if (op === 3) b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + 1 + int(r, 8))]);
    else b = b.subarray(0, at);
  }
  return b;
}

/** JSON-level mutation: replace one value anywhere in the tree by a hostile one. */
export function mutateJson(r: () => number, v: unknown): unknown {
  const hostile = [null, -1, 0, 1.5, 1e300, -1e300, 2 ** 53, '', 'x', [], {}, true, [1, 2, 3], [-1], { a: 1 }, '\u0000', 'qwen3_vl_moe'];
  const paths: (string | number)[][] = [];
  const walk = (x: unknown, p: (string | number)[]) => {
    paths.push(p);
    if (Array.isArray(x)) x.forEach((y, i) => walk(y, [...p, i]));
    else if (x && typeof x === 'object') for (const [k, y] of Object.entries(x)) walk(y, [...p, k]);
  };
  walk(v, []);
  const copy = JSON.parse(JSON.stringify(v));
  const p = pick(r, paths);
  if (p.length === 0) return pick(r, hostile);
  let o = copy;
  for (const k of p.slice(0, -1)) o = o[k];
  const last = p[p.length - 1];
  if (r() < 0.2 && !Array.isArray(o)) delete o[last];
  else o[last] = pick(r, hostile);
  return copy;
}

type ErrorClass = new (...args: never[]) => Error;

/** True if `run` succeeds, false if it throws one of `expected`; any other exception fails the fuzz test. */
export async function accepts(run: () => unknown, ...expected: ErrorClass[]): Promise<boolean> {
  try {
    await run();
    return true;
  } catch (e) {
    if (!expected.some((c) => e instanceof c)) throw e;
    return false;
  }
}
