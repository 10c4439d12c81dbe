// Structured outputs on the tiny checkpoints (random weights, so the text is meaningless): every completion under a
// JSON Schema parses and validates (ajv), for 24 schemas, greedy and sampled; the grammar lets generation end (the
// random weights run numbers and strings on for ever, so most answers here are closed by the budget's end); strict
// tool calls carry arguments valid against the tool's parameters; logprobs match a log-softmax of the logits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadModel, type Qwen3VL } from '../../src/generate/engine.js';
import { chat } from '../../src/generate/chat.js';
import type { ChatMessage } from '../../src/processor/index.js';
import { loadAddon } from '../../src/backend/cpu/native.js';
import { fixturesRoot } from '../helpers/fixtures.js';

// Grammar behaviour does not depend on the backend; the native one keeps 48 completions of up to 160 tokens quick.
const backend = process.env.QWEN3VL_BACKEND ?? (loadAddon() instanceof Error ? 'ref' : 'cpu');

const tiny = path.join(fixturesRoot, 'tiny-dense');
const ask = (text: string): ChatMessage[] => [{ role: 'user', content: [{ type: 'text', text }] }];

/** 24 schemas: nested objects, arrays, enums, numbers with bounds, required and optional fields, unions, consts. */
export const SCHEMAS: Record<string, Record<string, unknown>> = {
  flat: { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' } }, required: ['name', 'age'], additionalProperties: false },
  enumColor: { type: 'object', properties: { color: { enum: ['red', 'green', 'blue'] } }, required: ['color'] },
  boolean: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] },
  number: { type: 'object', properties: { x: { type: 'number' }, y: { type: 'number' } }, required: ['x', 'y'] },
  boundedInt: { type: 'object', properties: { n: { type: 'integer', minimum: 1, maximum: 9 } }, required: ['n'] },
  arrayOfInts: { type: 'object', properties: { values: { type: 'array', items: { type: 'integer' }, maxItems: 4 } }, required: ['values'] },
  arrayBounds: { type: 'object', properties: { tags: { type: 'array', items: { enum: ['a', 'b', 'c'] }, minItems: 1, maxItems: 3 } }, required: ['tags'] },
  nested: { type: 'object', properties: { person: { type: 'object', properties: { first: { type: 'string', maxLength: 12 }, last: { type: 'string', maxLength: 12 } }, required: ['first', 'last'] } }, required: ['person'] },
  deepNested: { type: 'object', properties: { a: { type: 'object', properties: { b: { type: 'object', properties: { c: { type: 'integer' } }, required: ['c'] } }, required: ['b'] } }, required: ['a'] },
  arrayOfObjects: { type: 'object', properties: { items: { type: 'array', maxItems: 3, items: { type: 'object', properties: { id: { type: 'integer' }, label: { enum: ['cat', 'dog'] } }, required: ['id', 'label'] } } }, required: ['items'] },
  bbox: { type: 'object', properties: { bbox_2d: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 1000 }, minItems: 4, maxItems: 4 }, label: { type: 'string', maxLength: 16 } }, required: ['bbox_2d', 'label'] },
  optional: { type: 'object', properties: { title: { type: 'string', maxLength: 20 }, year: { type: 'integer' } }, required: ['title'] },
  nullable: { type: 'object', properties: { note: { type: ['string', 'null'], maxLength: 10 } }, required: ['note'] },
  anyOf: { type: 'object', properties: { v: { anyOf: [{ type: 'integer' }, { type: 'boolean' }] } }, required: ['v'] },
  constField: { type: 'object', properties: { kind: { const: 'invoice' }, total: { type: 'number' } }, required: ['kind', 'total'] },
  stringPattern: { type: 'object', properties: { code: { type: 'string', pattern: '^[A-Z]{3}[0-9]{2}$' } }, required: ['code'] },
  dateLike: { type: 'object', properties: { date: { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' } }, required: ['date'] },
  topArray: { type: 'array', items: { type: 'integer' }, minItems: 1, maxItems: 5 },
  topEnum: { enum: ['yes', 'no', 'maybe'] },
  invoice: {
    type: 'object',
    properties: {
      vendor: { type: 'string', maxLength: 20 },
      lines: { type: 'array', maxItems: 2, items: { type: 'object', properties: { sku: { type: 'string', maxLength: 8 }, qty: { type: 'integer', minimum: 1 }, price: { type: 'number' } }, required: ['sku', 'qty', 'price'] } },
      currency: { enum: ['EUR', 'USD'] },
    },
    required: ['vendor', 'lines', 'currency'],
  },
  refs: { $defs: { point: { type: 'object', properties: { x: { type: 'integer' }, y: { type: 'integer' } }, required: ['x', 'y'] } }, type: 'object', properties: { from: { $ref: '#/$defs/point' }, to: { $ref: '#/$defs/point' } }, required: ['from', 'to'] },
  manyRequired: { type: 'object', properties: Object.fromEntries(['a', 'b', 'c', 'd', 'e'].map((k) => [k, { type: 'integer' }])), required: ['a', 'b', 'c', 'd', 'e'] },
  emptyObject: { type: 'object', properties: {}, additionalProperties: false },
  mixedArray: { type: 'object', properties: { row: { type: 'array', prefixItems: [{ type: 'string', maxLength: 6 }, { type: 'integer' }, { type: 'boolean' }], items: false } }, required: ['row'] },
};

let dense: Qwen3VL;
const ajv = new Ajv2020({ strict: false });

beforeAll(async () => {
  // An f32 KV pool, so the logprobs test's reference (a forward on the contiguous f32 cache) sees the same numbers
  // (the cpu default, f16, differs by ~1e-3 in a log-probability).
  if (existsSync(tiny)) dense = await loadModel(tiny, { backend: backend as 'ref' | 'cpu', kvCache: { dtype: 'f32' } });
}, 120_000);
afterAll(() => dense?.dispose());

function validates(schema: object, text: string): void {
  let value: unknown;
  expect(() => (value = JSON.parse(text)), `not JSON: ${text}`).not.toThrow();
  const ok = ajv.validate(schema, value);
  expect(ok, `${text} → ${ajv.errorsText()}`).toBe(true);
}

describe.skipIf(!existsSync(tiny))('structured outputs on tiny-dense', () => {
  it(`has ${Object.keys(SCHEMAS).length} schemas (20+)`, () => expect(Object.keys(SCHEMAS).length).toBeGreaterThanOrEqual(20));

  for (const [name, schema] of Object.entries(SCHEMAS)) {
    it(`${name}: a greedy and a sampled completion parse, validate and end with 'stop'`, async () => {
      for (const o of [{ temperature: 0 }, { temperature: 0.8, topP: 0.95, seed: 1 }]) {
        const r = await chat(dense, dense.processor!, ask(`Fill in ${name}.`), { ...o, maxTokens: 160, responseFormat: { type: 'json_schema', schema } });
        expect(r.finishReason, `${name} ${JSON.stringify(o)}: ${r.text}`).toBe('stop');
        validates(schema, r.text);
      }
    }, 120_000);
  }

  it('two concurrent requests with different schemas, batched together, each validate against their own', async () => {
    // Each sequence's grammar runs in its own scheduler hook on its own logits row of the shared batch.
    const sched = dense.scheduler;
    const saved = sched.onStep;
    let decodeRows = 0;
    sched.onStep = (rows, prefillRows) => {
      saved?.(rows, prefillRows);
      if (prefillRows === 0) decodeRows = Math.max(decodeRows, rows);
    };
    try {
      const pairs = [
        ['bbox', { temperature: 0 }],
        ['invoice', { temperature: 0.8, topP: 0.95, seed: 5 }],
      ] as const;
      const rs = await Promise.all(pairs.map(([name, o]) => chat(dense, dense.processor!, ask(`Fill in ${name}.`), { ...o, maxTokens: 120, responseFormat: { type: 'json_schema', schema: SCHEMAS[name] } })));
      // Both decoded in one forward at least once (a step with two decode rows and no prefill).
      expect(decodeRows).toBe(2);
      rs.forEach((r, i) => {
        expect(r.finishReason, `${pairs[i][0]}: ${r.text}`).toBe('stop');
        validates(SCHEMAS[pairs[i][0]], r.text);
      });
      // Neither answer would validate against the other's schema (the constraints did not cross).
      expect(ajv.validate(SCHEMAS.invoice, JSON.parse(rs[0].text))).toBe(false);
      expect(ajv.validate(SCHEMAS.bbox, JSON.parse(rs[1].text))).toBe(false);
    } finally {
      sched.onStep = saved;
    }
  }, 120_000);

  it('json_object gives an object; text is free', async () => {
    const r = await chat(dense, dense.processor!, ask('Any JSON.'), { temperature: 1, seed: 3, maxTokens: 300, responseFormat: { type: 'json_object' } });
    expect(r.finishReason).toBe('stop');
    const v = JSON.parse(r.text);
    expect(typeof v === 'object' && v !== null && !Array.isArray(v)).toBe(true);
  }, 60_000);

  it('a bad schema is a GrammarError naming the problem, before any token', async () => {
    await expect(chat(dense, dense.processor!, ask('x'), { maxTokens: 4, responseFormat: { type: 'json_schema', schema: { type: 'object', properties: { a: { $ref: '#/nowhere' } }, required: ['a'] } } })).rejects.toThrow(/schema|ref/i);
  });

  it('strict tool calls: arguments valid against the parameters, with tool_choice required and named', async () => {
    const params = { type: 'object', properties: { city: { type: 'string', maxLength: 12 }, unit: { enum: ['c', 'f'] }, days: { type: 'integer', minimum: 1, maximum: 7 } }, required: ['city', 'unit', 'days'], additionalProperties: false };
    const tools = [
      { type: 'function', function: { name: 'get_weather', strict: true, parameters: params } },
      { type: 'function', function: { name: 'get_time', strict: true, parameters: { type: 'object', properties: { tz: { enum: ['UTC', 'CET'] } }, required: ['tz'] } } },
    ];
    for (const [toolChoice, seed] of [['required', 1], ['required', 2], [{ name: 'get_weather' }, 3]] as const) {
      const r = await chat(dense, dense.processor!, ask('Weather in Paris?'), { temperature: 1, seed, maxTokens: 200, tools, toolChoice });
      expect(r.finishReason, r.text).toBe('tool_calls');
      expect(r.toolCalls).toHaveLength(1);
      const c = r.toolCalls[0];
      if (typeof toolChoice === 'object') expect(c.name).toBe('get_weather');
      validates(c.name === 'get_weather' ? params : (tools[1].function.parameters as object), c.arguments);
    }
    // A named strict tool is constrained even beside a tool that is not strict.
    const mixed = [tools[0], { type: 'function', function: { name: 'free', parameters: { type: 'object' } } }];
    const r = await chat(dense, dense.processor!, ask('Weather?'), { temperature: 1, seed: 4, maxTokens: 200, tools: mixed, toolChoice: { name: 'get_weather' } });
    expect(r.toolCalls.map((c) => c.name)).toEqual(['get_weather']);
    validates(params, r.toolCalls[0].arguments);
  }, 120_000);

  it('logprobs: the chosen token and the top alternatives are a log-softmax of the logits', async () => {
    const msgs = ask('Hi');
    const r = await chat(dense, dense.processor!, msgs, { temperature: 0, maxTokens: 3, logprobs: true, topLogprobs: 3 });
    expect(r.logprobs).toHaveLength(r.tokens.length + (r.finishReason === 'stop' ? 1 : 0));
    // Reference: the prompt's last-position logits, log-softmaxed in f64 here.
    const prepared = await dense.processor!.prepare(msgs, { addGenerationPrompt: true });
    const cache = dense.createCache(prepared.inputIds.length + 1);
    const l = (await dense.forward({ ...prepared, cache, logits: 'last' })).logits;
    cache.dispose();
    const max = l.reduce((a, b) => Math.max(a, b), -Infinity);
    const lse = max + Math.log(l.reduce((a, b) => a + Math.exp(b - max), 0));
    const order = Array.from(l.keys()).sort((a, b) => l[b] - l[a]);
    const first = r.logprobs![0];
    expect(first.token).toBe(dense.processor!.tokenizer.decode([order[0]]));
    expect(first.logprob).toBeCloseTo(l[order[0]] - lse, 4);
    expect(first.top.map((t) => t.logprob)).toEqual(order.slice(0, 3).map((i) => expect.closeTo(l[i] - lse, 4)));
    expect(first.top[0].bytes).toEqual(Array.from(dense.processor!.tokenizer.tokenBytes(order[0])));
  }, 60_000);
});
