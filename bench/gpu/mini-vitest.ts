// A minimal stand-in for the vitest API (describe/it/expect/hooks) so the unchanged test files run as a bundle on
// the GPU machine, which has Node (from the device kit) but no package registry. Bundled in place of 'vitest'.
import { isDeepStrictEqual, inspect } from 'node:util';

type Ctx = { skip(msg?: string): void };
type Fn = (ctx: Ctx) => unknown;
interface Test {
  readonly name: string;
  readonly fn: Fn;
}
interface Suite {
  readonly name: string;
  readonly before: Fn[];
  readonly after: Fn[];
  readonly items: (Suite | Test)[];
}

const root: Suite = { name: '', before: [], after: [], items: [] };
let cur = root;

class Skip extends Error {}

export function describe(name: string, fn: () => void): void {
  const s: Suite = { name, before: [], after: [], items: [] };
  cur.items.push(s);
  const prev = cur;
  cur = s;
  try {
    fn();
  } finally {
    cur = prev;
  }
}
export function it(name: string, fn: Fn): void {
  cur.items.push({ name, fn });
}
export const test = it;
export function beforeAll(fn: Fn): void {
  cur.before.push(fn);
}
export function afterAll(fn: Fn): void {
  cur.after.push(fn);
}

function fail(msg: string | undefined, what: string): never {
  throw new Error(msg ? `${msg}: ${what}` : what);
}

export function expect(v: unknown, msg?: string) {
  const show = (x: unknown) => inspect(x, { depth: 2, maxArrayLength: 20 });
  return {
    toBe: (w: unknown) => Object.is(v, w) || fail(msg, `expected ${show(v)} to be ${show(w)}`),
    toEqual: (w: unknown) => isDeepStrictEqual(v, w) || fail(msg, `expected ${show(v)} to equal ${show(w)}`),
    toBeDefined: () => v !== undefined || fail(msg, 'expected a defined value'),
    toBeTruthy: () => !!v || fail(msg, `expected ${show(v)} to be truthy`),
    toBeGreaterThan: (n: number) => (v as number) > n || fail(msg, `expected ${show(v)} > ${n}`),
    toBeLessThan: (n: number) => (v as number) < n || fail(msg, `expected ${show(v)} < ${n}`),
    toBeLessThanOrEqual: (n: number) => (v as number) <= n || fail(msg, `expected ${show(v)} <= ${n}`),
  };
}

export interface Totals {
  passed: number;
  failed: number;
  skipped: number;
}

const ctx: Ctx = {
  skip(m?: string) {
    throw new Skip(m ?? 'skipped');
  },
};

async function runSuite(s: Suite, path: string, t: Totals, broken: string | null): Promise<void> {
  const p = s.name ? (path ? `${path} > ${s.name}` : s.name) : path;
  let why = broken;
  if (!why) {
    for (const h of s.before) {
      try {
        await h(ctx);
      } catch (e) {
        why = `beforeAll failed: ${(e as Error).stack ?? e}`;
        console.log(`FAIL ${p} (beforeAll): ${(e as Error).stack ?? e}`);
        break;
      }
    }
  }
  for (const it of s.items) {
    if ('items' in it) {
      await runSuite(it, p, t, why);
      continue;
    }
    const name = `${p} > ${it.name}`;
    if (why) {
      t.failed++;
      console.log(`FAIL ${name} (suite setup failed)`);
      continue;
    }
    const t0 = performance.now();
    try {
      await it.fn(ctx);
      t.passed++;
      console.log(`ok   ${name} (${(performance.now() - t0).toFixed(0)} ms)`);
    } catch (e) {
      if (e instanceof Skip) {
        t.skipped++;
        console.log(`skip ${name}: ${e.message}`);
      } else {
        t.failed++;
        console.log(`FAIL ${name}: ${(e as Error).message}`);
      }
    }
  }
  for (const h of s.after) {
    try {
      await h(ctx);
    } catch (e) {
      console.log(`warn ${p} afterAll: ${(e as Error).message}`);
    }
  }
}

/** Run everything registered so far; prints one line per test and a summary. */
export async function runAll(): Promise<Totals> {
  const t: Totals = { passed: 0, failed: 0, skipped: 0 };
  await runSuite(root, '', t, null);
  console.log(`== ${t.passed} passed, ${t.failed} failed, ${t.skipped} skipped`);
  root.items.length = 0;
  return t;
}
