// The real server (`qwen3-vl serve`, built binary) on tiny-dense loaded by Hub id from a stand-in Hub, driven by the
// clients TypeScript developers use, unmodified but for the base URL: openai (response_format, logprobs, n), the
// Vercel AI SDK (generateText with an image, streamText, generateObject with zod) and LangChain.js (ChatOpenAI with
// an image and a bound tool). The tiny model has random weights: answers are checked for shape, not meaning.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateObject, generateText, streamText } from 'ai';
import { ChatOpenAI } from '@langchain/openai';
import { HumanMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { z } from 'zod';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixturesRoot, projectRoot } from '../helpers/fixtures.js';
import { HubStandIn } from '../helpers/hubStandIn.js';
import { ensureBuilt, runCli, startServe, type ServeHandle } from './cliHarness.js';

const tiny = path.join(fixturesRoot, 'tiny-dense');
const ID = 'Qwen/Qwen3-VL-Tiny-Test';
const pngBytes = readFileSync(path.join(projectRoot, 'assets', 'demo.png'));
const png = `data:image/png;base64,${pngBytes.toString('base64')}`;
const schema = { type: 'object', properties: { label: { type: 'string', maxLength: 12 }, count: { type: 'integer', minimum: 0, maximum: 9 }, tags: { type: 'array', items: { enum: ['a', 'b'] }, maxItems: 2 } }, required: ['label', 'count', 'tags'], additionalProperties: false };

let hub: HubStandIn;
let cache: string;
let serve: ServeHandle;
let base: string;
let env: Record<string, string>;

beforeAll(async () => {
  if (!existsSync(tiny)) return;
  ensureBuilt();
  hub = new HubStandIn(ID);
  hub.addRevision(['main'], tiny);
  await hub.start();
  cache = mkdtempSync(path.join(os.tmpdir(), 'qwen3vl-clients-'));
  env = { HF_ENDPOINT: hub.base, HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '0' };
  serve = await startServe(['-m', ID, '--backend', process.env.QWEN3VL_BACKEND ?? 'cpu', '--quiet'], env);
  base = `${serve.base}/v1`;
}, 300_000);
afterAll(async () => {
  if (serve) expect(await serve.stop()).toBe(0);
  await hub?.stop();
  if (cache) rmSync(cache, { recursive: true, force: true });
});

describe.skipIf(!existsSync(tiny))('clients against qwen3-vl serve -m org/name', () => {
  it('serves the Hub id under its name; pull and list see the same cache; run --schema offline from the cache; offline names what is missing', async () => {
    const openai = new OpenAI({ baseURL: base, apiKey: 'unused' });
    expect((await openai.models.list()).data.map((m) => m.id)).toEqual([ID]);
    const pulled = await runCli(['pull', ID, '--quiet'], { env });
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.stdout.trim()).toMatch(new RegExp(`${cache}/models--Qwen--Qwen3-VL-Tiny-Test/snapshots/[0-9a-f]{40}$`));
    const list = await runCli(['list'], { env });
    expect(list.stdout).toMatch(/Qwen\/Qwen3-VL-Tiny-Test\s+main\s+[0-9a-f]{12}\s+0\.0\d\d GB/);
    // The cached id runs offline, and --schema constrains the answer.
    const run = await runCli(['run', '-m', ID, '--schema', JSON.stringify(schema), '-n', '60', '-t', '0.8', '--seed', '3', 'Describe.'], { env: { ...env, HF_HUB_OFFLINE: '1' } });
    expect(run.code, run.stderr).toBe(0);
    expect(new Ajv2020().validate(schema, JSON.parse(run.stdout)), run.stdout).toBe(true);
    expect((await runCli(['run', '-m', ID, '--schema', 'nope.json', 'x'], { env })).stderr).toMatch(/--schema 'nope.json' is neither JSON nor an existing file/);
    const offline = await runCli(['run', '-m', 'Qwen/Not-Cached', 'hi'], { env: { ...env, HF_HUB_OFFLINE: '1' } });
    expect(offline.code).toBe(1);
    expect(offline.stderr).toMatch(/offline \(HF_HUB_OFFLINE=1\) and Qwen\/Not-Cached@main is not in the cache/);
  });

  it('openai: json_schema response_format validates; logprobs and n=2 with per-choice seeds', async () => {
    const openai = new OpenAI({ baseURL: base, apiKey: 'unused' });
    const r = await openai.chat.completions.create({
      model: ID,
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: png } }, { type: 'text', text: 'Describe as JSON.' }] }],
      response_format: { type: 'json_schema', json_schema: { name: 'thing', schema, strict: true } },
      temperature: 0.8,
      seed: 7,
      n: 2,
      max_tokens: 80,
      logprobs: true,
      top_logprobs: 2,
    });
    expect(r.choices).toHaveLength(2);
    const ajv = new Ajv2020();
    for (const c of r.choices) {
      expect(ajv.validate(schema, JSON.parse(c.message.content!)), c.message.content!).toBe(true);
      expect(c.logprobs!.content!.length).toBeGreaterThan(0);
      for (const l of c.logprobs!.content!) {
        expect(l.logprob).toBeLessThanOrEqual(0);
        expect(l.top_logprobs).toHaveLength(2);
        expect(l.top_logprobs[0].logprob).toBeGreaterThanOrEqual(l.top_logprobs[1].logprob);
      }
    }
    // Choice i samples with seed + i: choice 1 of seed 7 is choice 0 of seed 8.
    const again = await openai.chat.completions.create({ model: ID, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: png } }, { type: 'text', text: 'Describe as JSON.' }] }], response_format: { type: 'json_schema', json_schema: { name: 'thing', schema, strict: true } }, temperature: 0.8, seed: 8, max_tokens: 80 });
    expect(again.choices[0].message.content).toBe(r.choices[1].message.content);
    // Streamed: logprobs ride on the chunks, one per generated token, and the text equals the non-streamed one.
    const stream = await openai.chat.completions.create({ model: ID, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 6, temperature: 0, logprobs: true, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let n = 0;
    let usage = 0;
    for await (const ch of stream) {
      text += ch.choices[0]?.delta.content ?? '';
      n += ch.choices[0]?.logprobs?.content?.length ?? 0;
      if (ch.usage) usage = ch.usage.completion_tokens;
    }
    const flat = await openai.chat.completions.create({ model: ID, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 6, temperature: 0, logprobs: true });
    expect(text).toBe(flat.choices[0].message.content);
    expect(n).toBe(flat.choices[0].logprobs!.content!.length);
    expect(n).toBeGreaterThanOrEqual(usage);
    await expect(openai.chat.completions.create({ model: ID, messages: [{ role: 'user', content: 'x' }], top_logprobs: 3 })).rejects.toThrow(/'top_logprobs' needs 'logprobs': true/);
  });

  it('Vercel AI SDK: generateText with an image, streamText, generateObject with zod', async () => {
    const qwen = createOpenAICompatible({ name: 'qwen3-vl', baseURL: base, supportsStructuredOutputs: true });
    const model = qwen(ID);
    const t = await generateText({ model, maxOutputTokens: 8, temperature: 0, messages: [{ role: 'user', content: [{ type: 'image', image: pngBytes, mediaType: 'image/png' }, { type: 'text', text: 'What is this?' }] }] });
    expect(t.text.length).toBeGreaterThan(0);
    expect(t.usage.outputTokens).toBeGreaterThan(0);
    const s = streamText({ model, prompt: 'Hello', maxOutputTokens: 8, temperature: 0 });
    let streamed = '';
    for await (const part of s.textStream) streamed += part;
    expect(streamed).toBe((await generateText({ model, prompt: 'Hello', maxOutputTokens: 8, temperature: 0 })).text);
    const o = await generateObject({ model, maxOutputTokens: 100, schema: z.object({ name: z.string().max(10), age: z.number().int().min(0).max(120), pets: z.array(z.enum(['cat', 'dog'])).max(2) }), prompt: 'A person.' });
    expect(Object.keys(o.object).sort()).toEqual(['age', 'name', 'pets']);
  });

  it('LangChain.js: ChatOpenAI with an image, and a bound strict tool', async () => {
    const llm = new ChatOpenAI({ model: ID, apiKey: 'unused', configuration: { baseURL: base }, temperature: 0, maxTokens: 8 });
    const m = await llm.invoke([new HumanMessage({ content: [{ type: 'image_url', image_url: { url: png } }, { type: 'text', text: 'What is this?' }] })]);
    expect(typeof m.content).toBe('string');
    expect((m.content as string).length).toBeGreaterThan(0);
    const weather = tool(async ({ city }: { city: string }) => `sunny in ${city}`, { name: 'get_weather', description: 'Weather in a city', schema: z.object({ city: z.string().max(12), unit: z.enum(['c', 'f']) }) });
    const withTool = new ChatOpenAI({ model: ID, apiKey: 'unused', configuration: { baseURL: base }, temperature: 0.7, maxTokens: 80 }).bindTools([weather], { tool_choice: 'get_weather', strict: true });
    const call = await withTool.invoke('Weather in Paris?');
    expect(call.tool_calls).toHaveLength(1);
    expect(call.tool_calls![0].name).toBe('get_weather');
    expect(Object.keys(call.tool_calls![0].args).sort()).toEqual(['city', 'unit']);
    expect(['c', 'f']).toContain(call.tool_calls![0].args.unit);
  });
});
