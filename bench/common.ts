// What the bench scripts share: `--name value` options after `--`, process CPU time, and the seeded values their
// random-weight tensors are made of (the same numbers in every script, so their timings use the same data).

/** The script's arguments (npm's `--` separator dropped), `opt(name, default)` for `--name value`, `flag(name)`. */
export function benchArgs() {
  const argv = process.argv.slice(2).filter((a) => a !== '--');
  function opt(name: string): string | undefined;
  function opt(name: string, def: string): string;
  function opt(name: string, def?: string): string | undefined {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : def;
  }
  const flag = (name: string) => argv.includes(`--${name}`);
  return { argv, opt, flag };
}

/** The process's CPU time (user + system, all threads) in ms. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** len values uniform in ±scale/2 from a 32-bit LCG started at seed. */
export function lcgValues(len: number, scale = 0.05, seed = 12345): Float32Array {
  const out = new Float32Array(len);
  let s = seed;
  for (let i = 0; i < len; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = ((s >>> 8) / 2 ** 24 - 0.5) * scale;
  }
  return out;
}
