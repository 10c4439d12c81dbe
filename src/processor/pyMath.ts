// Python/numpy number semantics that the reference processor relies on and JavaScript does not share:
// round-half-to-even, `format(x, '.1f')` on the exact binary value, and `np.linspace(...).round()`.

/** Python `round(x)` for a float: nearest integer, ties to even (JS Math.round sends ties up). */
export function pyRound(x: number): number {
  if (!Number.isFinite(x)) throw new RangeError(`pyRound: ${x} is not finite`);
  const f = Math.floor(x);
  const d = x - f; // exact for every double
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Split a finite double into an exact integer mantissa and a power-of-two exponent: x = m · 2^e. */
function decompose(x: number): { m: bigint; e: number } {
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, x);
  const hi = buf.getUint32(0);
  const lo = buf.getUint32(4);
  const exp = (hi >>> 20) & 0x7ff;
  const frac = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (exp === 0) return { m: frac, e: -1074 };
  return { m: frac | (1n << 52n), e: exp - 1075 };
}

/**
 * Python `format(x, '.{digits}f')`: the exact binary value rounded half-to-even (0.25 → "0.2", 1.25 → "1.2",
 * 0.35 → "0.3" because 0.35 is really 0.34999…). JS toFixed rounds exact ties up instead.
 */
export function formatFixed(x: number, digits = 1): string {
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : x < 0 ? '-inf' : 'nan';
  if (!Number.isInteger(digits) || digits < 0 || digits > 20) throw new RangeError(`formatFixed: bad digits ${digits}`);
  const negative = x < 0 || Object.is(x, -0);
  const { m, e } = decompose(Math.abs(x));
  const scale = 10n ** BigInt(digits);
  let q: bigint;
  if (e >= 0) {
    q = (m << BigInt(e)) * scale;
  } else {
    const num = m * scale;
    const den = 1n << BigInt(-e);
    q = num / den;
    const twice = 2n * (num - q * den);
    if (twice > den || (twice === den && q % 2n === 1n)) q += 1n;
  }
  let s = q.toString();
  if (digits > 0) {
    s = s.padStart(digits + 1, '0');
    s = `${s.slice(0, s.length - digits)}.${s.slice(s.length - digits)}`;
  }
  return negative ? `-${s}` : s;
}

/** `np.linspace(0, stop, num).round().astype(int)`: i·(stop/(num−1)), last = stop, ties to even. */
export function linspaceRound(stop: number, num: number): number[] {
  if (!Number.isInteger(num) || num < 0) throw new RangeError(`linspaceRound: bad count ${num}`);
  if (num === 0) return [];
  if (num === 1) return [0];
  const step = stop / (num - 1);
  const out: number[] = [];
  for (let i = 0; i < num; i++) out.push(pyRound(i === num - 1 ? stop : i * step));
  return out;
}
