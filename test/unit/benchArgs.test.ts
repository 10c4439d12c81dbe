// The bench scripts' shared command line (bench/common.ts): declared options only, --help lists them, and a bad
// option, value or list exits 2 naming it instead of running the bench with a default.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { benchArgs, type BenchOption } from '../../bench/common.js';

const OPTIONS: Record<string, BenchOption> = {
  reps: { value: 'N', default: '3', help: 'timed runs' },
  dtype: { value: 'LIST', default: 'q8_0,q4_0', help: 'weight formats' },
  isa: { value: 'ISA', default: 'auto', help: 'kernels' },
  layers: { value: 'N', help: 'layers (default: the shape\'s)' },
  json: { help: 'print JSON' },
  child: { internal: true, help: 'a child process' },
};
const USAGE = 'npx vite-node bench/x.ts -- [options]: a test bench';

/** Runs fn with process.exit and the console captured: the exit code (or null) and what was printed. */
function capture(fn: () => void): { code: number | null; out: string; err: string } {
  let out = '';
  let err = '';
  vi.spyOn(console, 'log').mockImplementation((s: string) => void (out += `${s}\n`));
  vi.spyOn(console, 'error').mockImplementation((s: string) => void (err += `${s}\n`));
  vi.spyOn(process, 'exit').mockImplementation((c?: string | number | null) => {
    throw Object.assign(new Error('exit'), { code: Number(c ?? 0) });
  });
  try {
    fn();
    return { code: null, out, err };
  } catch (e) {
    if ((e as Error).message !== 'exit') throw e;
    return { code: (e as { code: number }).code, out, err };
  }
}

describe('benchArgs', () => {
  afterEach(() => vi.restoreAllMocks());

  it('reads values, defaults, lists, choices and flags; the `--` separator is dropped', () => {
    const a = benchArgs(USAGE, OPTIONS, undefined, ['--', '--reps', '5', '--json', '--isa', 'avx2']);
    expect(a.num('reps')).toBe(5);
    expect(a.list('dtype', ['q8_0', 'q4_0', 'bf16'])).toEqual(['q8_0', 'q4_0']);
    expect(a.choice('isa', ['auto', 'avx2'])).toBe('avx2');
    expect(a.flag('json')).toBe(true);
    expect(a.flag('child')).toBe(false);
    expect(a.num('layers', 28)).toBe(28); // absent, no declared default: the script's fallback
    expect(benchArgs(USAGE, OPTIONS, undefined, ['--layers', '4']).num('layers', 28)).toBe(4);
    expect(() => a.opt('nope')).toThrow(/does not declare/);
    // given: on the command line, not defaulted (dtype has a default, reps was given)
    expect([a.given('reps'), a.given('dtype'), a.given('json'), a.given('layers')]).toEqual([true, false, true, false]);
    expect(benchArgs(USAGE, OPTIONS, undefined, ['--dtype', 'q8_0,q4_0']).given('dtype')).toBe(true);
  });

  it('--help prints the usage and the options with their defaults, not the internal ones, and exits 0', () => {
    const r = capture(() => benchArgs(USAGE, OPTIONS, undefined, ['--help']));
    expect(r.code).toBe(0);
    expect(r.out).toContain(USAGE);
    expect(r.out).toMatch(/--reps N\s+timed runs \(default 3\)/);
    expect(r.out).toMatch(/--json\s+print JSON/);
    expect(r.out).not.toContain('--child');
  });

  it.each([
    [['--bogus'], /bench\/x\.ts: Unknown option '--bogus'/],
    [['--reps'], /--reps <value>' argument missing/],
    [['--reps', 'x'], /--reps x: expected a number/],
    [['--dtype', 'q8_0,,q4_0'], /--dtype 'q8_0,,q4_0': expected a comma-separated list/],
    [['--dtype', 'q9'], /--dtype q9: expected q8_0, q4_0, bf16/],
    [['--isa', 'sse'], /--isa sse: expected auto, avx2/],
    [['stray'], /Unexpected argument 'stray'/],
  ])('%j exits 2 naming the problem', (argv, message) => {
    const r = capture(() => {
      const a = benchArgs(USAGE, OPTIONS, undefined, argv);
      a.num('reps');
      a.list('dtype', ['q8_0', 'q4_0', 'bf16']);
      a.choice('isa', ['auto', 'avx2']);
    });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.err).toContain('--help lists the options');
  });

  it('a script with one positional argument requires exactly one', () => {
    expect(benchArgs(USAGE, OPTIONS, 'DIR', ['/tmp/ck', '--reps', '2']).positional).toBe('/tmp/ck');
    expect(capture(() => benchArgs(USAGE, OPTIONS, 'DIR', [])).err).toMatch(/expected one DIR, got none/);
    expect(capture(() => benchArgs(USAGE, OPTIONS, 'DIR', ['a', 'b'])).err).toMatch(/expected one DIR, got a b/);
  });
});
