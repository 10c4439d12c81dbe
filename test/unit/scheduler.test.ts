// The scheduler on a fake model (next token = a hash of the sequence so far): admission errors before any work,
// batching of decode rows with prefill chunks, the batch-size cap, cancellation freeing blocks at once, and
// preemption under KV pressure leaving every output unchanged.
import { describe, expect, it } from 'vitest';
import { AdmissionError, Scheduler, type BatchModel, type SeqRequest, type StepChunk } from '../../src/generate/scheduler.js';
import { BlockPool } from '../../src/nn/kvPool.js';
import { chainSeed, type MediaItem } from '../../src/generate/prefixKeys.js';

const V = 50;

/** A model whose logits depend only on the tokens before each row (as a real one's do); it checks the KV contract. */
function fakeModel(blocks: number, steps: StepChunk<null>[][]): BatchModel<null> {
  const kv = new Map<number, number>(); // slot -> token written there
  return {
    contextLength: 200,
    pool: new BlockPool(blocks, 16),
    encode: () => null,
    async forward(chunks) {
      steps.push([...chunks]);
      return chunks.flatMap((c) => {
        const slot = (j: number) => c.blocks[Math.floor(j / 16)] * 16 + (j % 16);
        c.ids.forEach((t, i) => kv.set(slot(c.start + i), t));
        if (!c.logits) return [];
        // Read the whole history back from the pool's slots: a wrong table or a lost write changes the answer.
        let h = 7;
        for (let j = 0; j < c.start + c.ids.length; j++) h = (h * 31 + (kv.get(slot(j)) ?? -1000)) % 100003;
        const l = new Float32Array(V);
        l[h % V] = 1;
        return [l];
      });
    },
    release() {},
  };
}

function req(prompt: number, maxTokens: number, out: number[], onEnd?: (r: string) => void): SeqRequest {
  const ids = Int32Array.from({ length: prompt }, (_, i) => (i * 7 + prompt) % V);
  const p = Int32Array.from(ids, (_, i) => i);
  return {
    ids,
    positions: [p, p, p],
    ropeDelta: 0,
    maxTokens,
    next: (l) => {
      const t = l.indexOf(1);
      out.push(t);
      return t;
    },
    onEnd,
  };
}

async function runAll(blocks: number, specs: [number, number][], opts = { maxSeqs: 8, maxBatchTokens: 32 }) {
  const steps: StepChunk<null>[][] = [];
  const s = new Scheduler(fakeModel(blocks, steps), opts);
  const outs = specs.map(() => [] as number[]);
  const ends: string[] = [];
  specs.forEach(([p, m], i) => s.submit(req(p, m, outs[i], (r) => (ends[i] = r))));
  await s.idle();
  return { outs, ends, steps, s };
}

describe('Scheduler', () => {
  const specs: [number, number][] = [[5, 20], [40, 10], [17, 30], [3, 25], [64, 8], [30, 12]];

  it('refuses a prompt that can never fit, at once, naming the limit', () => {
    const s = new Scheduler(fakeModel(5, []), { maxSeqs: 2, maxBatchTokens: 16 });
    expect(() => s.submit(req(200, 1, []))).toThrow(AdmissionError);
    expect(() => s.submit(req(200, 1, []))).toThrow(/--ctx-size/);
    expect(() => s.submit(req(70, 1, []))).toThrow(/KV cache \(--kv-cache-gb\) holds 64 tokens/);
    expect(s.stats()).toMatchObject({ running: 0, waiting: 0, blocksUsed: 0 });
  });

  it('batches decode rows with prefill chunks; a long prompt never stalls running streams', async () => {
    const { outs, ends, steps } = await runAll(64, specs);
    specs.forEach(([, m], i) => expect(outs[i].length).toBe(m));
    expect(ends.every((e) => e === 'length')).toBe(true);
    expect(Math.max(...steps.map((c) => c.length))).toBeGreaterThan(3);
    for (const st of steps) expect(st.reduce((a, c) => a + c.ids.length, 0)).toBeLessThanOrEqual(32);
    // Some step holds decode rows (1 token) and a prefill chunk together.
    expect(steps.some((st) => st.some((c) => c.ids.length === 1) && st.some((c) => c.ids.length > 1))).toBe(true);
  });

  it('caps the batch at maxSeqs', async () => {
    const { steps } = await runAll(64, specs, { maxSeqs: 2, maxBatchTokens: 32 });
    expect(Math.max(...steps.map((c) => c.length))).toBe(2);
  });

  it('preempts the newest under KV pressure; every output is unchanged and the pool ends whole', async () => {
    const roomy = await runAll(64, specs);
    const tight = await runAll(9, specs); // 8 blocks = 128 tokens for ~300 needed
    expect(tight.s.stats().preemptions).toBeGreaterThan(0);
    expect(tight.outs).toEqual(roomy.outs);
    expect(tight.s.stats().blocksUsed).toBe(0);
  });

  it('cancellation frees the blocks at once and ends the sequence', async () => {
    const steps: StepChunk<null>[][] = [];
    const s = new Scheduler(fakeModel(64, steps), { maxSeqs: 4, maxBatchTokens: 32 });
    const out: number[] = [];
    let end = '';
    const seq = s.submit(req(20, 100, out, (r) => (end = r)));
    const other: number[] = [];
    s.submit(req(10, 30, other));
    // Poll between the scheduler's steps (it steps on setImmediate; a timer can let all 100 tokens run first).
    while (out.length < 3) await new Promise((r) => setImmediate(r));
    const used = s.stats().blocksUsed;
    s.cancel(seq);
    expect(end).toBe('cancelled');
    expect(s.stats().blocksUsed).toBeLessThan(used);
    await s.idle();
    expect(other.length).toBe(30);
    expect(s.stats().blocksUsed).toBe(0);
  });

  it('a failing hook ends only its own sequence', async () => {
    const s = new Scheduler(fakeModel(64, []), { maxSeqs: 4, maxBatchTokens: 32 });
    let err: unknown;
    const bad = req(5, 10, []);
    s.submit({ ...bad, next: () => { throw new Error('boom'); }, onEnd: (_r, e) => (err = e) });
    const ok: number[] = [];
    s.submit(req(6, 10, ok));
    await s.idle();
    expect((err as Error).message).toBe('boom');
    expect(ok.length).toBe(10);
  });
});

describe('Scheduler prefix reuse', () => {
  const seed = chainSeed('scheduler test');
  const withPrefix = (r: SeqRequest, items: MediaItem[] = []): SeqRequest => ({ ...r, prefix: { seed, items } });
  /** A request with explicit ids (a conversation grows by appending). */
  const reqOf = (ids: number[], maxTokens: number, out: number[]): SeqRequest => {
    const p = Int32Array.from(ids, (_, i) => i);
    return { ...req(1, maxTokens, out), ids: Int32Array.from(ids), positions: [p, p, p] };
  };
  const ids = (n: number, salt: number) => Array.from({ length: n }, (_, i) => (i * 13 + salt) % V);

  it('a re-sent prompt starts from its cached blocks, leaves at least one token to compute, and answers the same', async () => {
    const steps: StepChunk<null>[][] = [];
    const s = new Scheduler(fakeModel(64, steps), { maxSeqs: 4, maxBatchTokens: 32 });
    const prompt = ids(48, 3); // exactly 3 blocks: the hit must stop at 2 (logits need a computed token)
    const a: number[] = [];
    const b: number[] = [];
    s.submit(withPrefix(reqOf(prompt, 5, a)));
    await s.idle();
    const before = steps.length;
    const seq = s.submit(withPrefix(reqOf(prompt, 5, b)));
    await s.idle();
    expect(b).toEqual(a);
    expect(seq.cachedTokens).toBe(32);
    expect(steps[before][0]).toMatchObject({ start: 32 });
    expect(steps[before][0].ids.length).toBe(16);
    expect(s.stats().prefix).toMatchObject({ promptTokens: 96, hitTokens: 32 });
    expect(s.stats().blocksUsed).toBe(0);
  });

  it('turn 2 of a conversation reuses turn 1 up to its generated tokens; off, nothing is reused', async () => {
    for (const on of [true, false]) {
      const steps: StepChunk<null>[][] = [];
      const s = new Scheduler(fakeModel(64, steps), { maxSeqs: 4, maxBatchTokens: 64 });
      const t1 = ids(37, 5);
      const out1: number[] = [];
      s.submit(on ? withPrefix(reqOf(t1, 20, out1)) : reqOf(t1, 20, out1));
      await s.idle();
      // Turn 2: turn 1's prompt, its answer (the last sampled token never reached the pool) and a new question.
      const t2 = [...t1, ...out1, ...ids(10, 9)];
      const out2: number[] = [];
      const cold: number[] = [];
      const seq = s.submit(on ? withPrefix(reqOf(t2, 6, out2)) : reqOf(t2, 6, out2));
      await s.idle();
      const ref = new Scheduler(fakeModel(64, []), { maxSeqs: 4, maxBatchTokens: 64 });
      ref.submit(reqOf(t2, 6, cold));
      await ref.idle();
      expect(out2).toEqual(cold);
      // 37 + 19 computed tokens of turn 1 = 56: three full blocks (48 tokens), all reused.
      expect(seq.cachedTokens).toBe(on ? 48 : 0);
    }
  });

  it('under KV pressure: preemption, eviction and revival leave every output unchanged; the pool ends whole', async () => {
    const specs: [number, number][] = [[5, 20], [40, 10], [17, 30], [3, 25], [64, 8], [30, 12]];
    const roomy = await runAll(64, specs);
    const steps: StepChunk<null>[][] = [];
    const model = fakeModel(12, steps); // 176 tokens for ~300: preemption, eviction and some hits
    const s = new Scheduler(model, { maxSeqs: 8, maxBatchTokens: 32 });
    let checks = 0;
    s.onStep = () => (s.check(), checks++); // refs = table entries, free queue = the ref-0 blocks, index consistent
    const outs = specs.map(() => [] as number[]);
    // Every request twice: the second of each pair may reuse the first's blocks, or find them evicted.
    for (let round = 0; round < 2; round++) {
      specs.forEach(([p, m], i) => {
        outs[i] = [];
        s.submit(withPrefix(req(p, m, outs[i])));
      });
      await s.idle();
      expect(outs).toEqual(roomy.outs);
    }
    expect(s.stats().preemptions).toBeGreaterThan(0);
    expect(s.stats().prefix.evictions).toBeGreaterThan(0);
    expect(s.stats().prefix.hitTokens).toBeGreaterThan(0);
    expect(checks).toBeGreaterThan(20);
    expect(s.stats().blocksUsed).toBe(0);
    model.pool.check([]);
  });

  it('asks the vision tower only for items past the cached prefix; different images never share a block', async () => {
    const encodes: number[][] = [];
    const base = fakeModel(64, []);
    const model: BatchModel<null> = { ...base, encode: (r, from) => (encodes.push([from, ...(r.media?.items ?? []).filter((it) => it.runs.some(([a, l]) => a + l > from)).map((it) => it.runs[0][0])]), null) };
    const s = new Scheduler(model, { maxSeqs: 4, maxBatchTokens: 64 });
    const item = (hash: string, start: number, len: number): MediaItem => ({ kind: 'image', hash: hash.repeat(64), grid: [1, 2, 2 * len], runs: [[start, len]], pixels: new Float32Array(0) });
    // Tokens 4..27 are image A's placeholders (24), 40..47 image B's (8); 60 tokens in all.
    const prompt = ids(60, 1);
    const run = async (items: MediaItem[]) => {
      const out: number[] = [];
      const r = withPrefix(reqOf(prompt, 2, out), items);
      const seq = s.submit({ ...r, media: { items } });
      await s.idle();
      return seq.cachedTokens;
    };
    expect(await run([item('a', 4, 24), item('b', 40, 8)])).toBe(0);
    expect(encodes.pop()).toEqual([0, 4, 40]);
    // Same images: 3 blocks reused (48 tokens); A lies inside, B ends at 48, so neither is encoded.
    expect(await run([item('a', 4, 24), item('b', 40, 8)])).toBe(48);
    expect(encodes.pop()).toEqual([48]);
    // Another image B: blocks from B's first (block 2) on differ, so only blocks 0-1 are shared, and B is encoded.
    expect(await run([item('a', 4, 24), item('c', 40, 8)])).toBe(32);
    expect(encodes.pop()).toEqual([32, 40]);
    // Another image A: no block is shared at all, even block 0, which holds A's first placeholders.
    expect(await run([item('d', 4, 24), item('b', 40, 8)])).toBe(0);
    expect(encodes.pop()).toEqual([0, 4, 40]);
  });
});
