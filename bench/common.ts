// What the bench scripts share: their command line (declared options, `--help`, an error for anything else), process
// CPU time, and the seeded values their random-weight tensors are made of (the same numbers in every script).
import { parseArgs } from 'node:util';
import type { WeightFormat } from '../src/weights/convert.js';

/** The weight formats the benches compare (the engine also loads f16, which no peer table has a column for). */
export const BENCH_FORMATS: readonly WeightFormat[] = ['f32', 'bf16', 'q8_0', 'q4_0'];

export interface BenchOption {
  /** What it does, for --help. */
  help: string;
  /** Takes a value, shown by --help as this placeholder (N, LIST, DIR); absent: a flag. */
  value?: string;
  /** The value when the option is not given. */
  default?: string;
  /** Passed by the script to its own child processes; --help leaves it out. */
  internal?: boolean;
}

// The script's name for error messages, from its usage line (vite-node leaves it out of process.argv).
let scriptName = 'bench';

/** Prints `script: message` and the pointer to --help, and exits 2 (a bad command line, as a CLI would). */
export function benchFail(message: string): never {
  console.error(`${scriptName}: ${message} (--help lists the options)`);
  process.exit(2);
}

/**
 * The script's command line (npm's `--` separator dropped), checked against its declared options: `--help` prints
 * `usage` and the options and exits; an unknown option, a missing value or a stray positional exits 2 naming it.
 * `positional` names the one positional argument a script takes (e.g. 'DIR'), if any.
 */
export function benchArgs(usage: string, options: Record<string, BenchOption>, positional?: string, argv = process.argv.slice(2)) {
  scriptName = /(bench\/[\w/]+\.ts|npm run bench(:\w+)?)/.exec(usage)?.[1] ?? scriptName;
  const args = argv.filter((a) => a !== '--');
  if (args.includes('--help') || args.includes('-h')) {
    const shown = Object.entries(options).filter(([, o]) => !o.internal);
    const left = shown.map(([k, o]) => `  --${k}${o.value ? ` ${o.value}` : ''}`);
    const w = Math.max(0, ...left.map((l) => l.length)) + 2;
    const lines = shown.map(([, o], i) => `${left[i].padEnd(w)}${o.help}${o.default !== undefined ? ` (default ${o.default})` : ''}`);
    console.log(`${usage}\n\noptions:\n${lines.join('\n')}\n  --help${' '.repeat(Math.max(1, w - 8))}this list`);
    process.exit(0);
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    const spec = Object.fromEntries(Object.entries(options).map(([k, o]) => [k, { type: o.value ? ('string' as const) : ('boolean' as const) }]));
    parsed = parseArgs({ args, options: spec, strict: true, allowPositionals: positional !== undefined });
  } catch (e) {
    benchFail((e as Error).message.split('. ')[0]);
  }
  const { values, positionals } = parsed;
  if (positional !== undefined && positionals.length !== 1) benchFail(`expected one ${positional}, got ${positionals.length ? positionals.join(' ') : 'none'}`);
  const declared = (name: string) => {
    if (!(name in options)) throw new Error(`bench script asks for --${name}, which it does not declare`);
    return options[name];
  };
  /** The option's value, or its declared default. */
  const opt = (name: string): string | undefined => (values[name] as string | undefined) ?? declared(name).default;
  /** A numeric option (`fallback` when it is absent and declares no default): an error for a non-number. */
  const num = (name: string, fallback?: number): number => {
    const v = opt(name);
    if (v === undefined && fallback !== undefined) return fallback;
    const n = Number(v);
    if (v === undefined || v.trim() === '' || !Number.isFinite(n)) benchFail(`--${name} ${v ?? ''}: expected a number`);
    return n;
  };
  /** A comma-separated option (of `allowed` values, where given); empty items refused. */
  const list = <const T extends string = string>(name: string, allowed?: readonly T[]): T[] => {
    const v = opt(name) ?? '';
    const items = v.split(',');
    if (items.some((x) => x.trim() === '')) benchFail(`--${name} '${v}': expected a comma-separated list`);
    const bad = allowed ? items.filter((x) => !(allowed as readonly string[]).includes(x)) : [];
    if (bad.length) benchFail(`--${name} ${bad.join(',')}: expected ${allowed!.join(', ')}`);
    return items as T[];
  };
  /** An option that takes one of `allowed`. */
  const choice = <const T extends string>(name: string, allowed: readonly T[]): T => {
    const v = opt(name) ?? '';
    if (!(allowed as readonly string[]).includes(v)) benchFail(`--${name} ${v}: expected ${allowed.join(', ')}`);
    return v as T;
  };
  /** A list of numbers (--n 784,4096). */
  const nums = (name: string): number[] =>
    list(name).map((x) => {
      const n = Number(x);
      if (!Number.isFinite(n)) benchFail(`--${name} ${opt(name)}: expected numbers separated by commas`);
      return n;
    });
  const flag = (name: string): boolean => (declared(name), values[name] === true);
  /** Whether the option is on the command line (not its default). */
  const given = (name: string): boolean => (declared(name), values[name] !== undefined);
  return { opt, num, nums, list, choice, flag, given, positional: positionals[0] };
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
