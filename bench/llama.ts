// llama.cpp side of the benchmark through node-llama-cpp (pinned 3.21.1, prebuilt CPU binaries from npm): load a
// GGUF, time a prompt of token ids (prefill) and greedy decoding, with the same thread count as our backend.

export interface LlamaResult {
  prefillTokS: number;
  decodeTokS: number;
  loadS: number;
  build: string;
  /** The greedy tokens of the last run (after re-feeding the prompt's last token), for the agreement check. */
  tokens: number[];
}

export async function runLlama(gguf: string, opts: { prompt: number[]; gen: number; threads: number; reps?: number }): Promise<LlamaResult> {
  let mod: typeof import('node-llama-cpp');
  try {
    mod = await import('node-llama-cpp');
  } catch (e) {
    throw new Error(`node-llama-cpp is not installed (${(e as Error).message}); npm install --save-dev node-llama-cpp@3.21.1`);
  }
  const llama = await mod.getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true, progressLogs: false, logLevel: mod.LlamaLogLevel.error, maxThreads: opts.threads });
  const t0 = performance.now();
  const model = await llama.loadModel({ modelPath: gguf, gpuLayers: 0, useMmap: true });
  const loadS = (performance.now() - t0) / 1000;
  const ctx = await model.createContext({ contextSize: 2048, batchSize: 512, threads: opts.threads, sequences: 1, flashAttention: false });
  try {
    const toks = opts.prompt as unknown as import('node-llama-cpp').Token[];
    let prefillS = Infinity;
    let decodeS = Infinity;
    let n = 0;
    let tokens: number[] = [];
    for (let rep = 0; rep < (opts.reps ?? 1); rep++) {
      const seq = ctx.getSequence();
      const p0 = performance.now();
      await seq.evaluateWithoutGeneratingNewTokens(toks);
      prefillS = Math.min(prefillS, (performance.now() - p0) / 1000);
      n = 0;
      tokens = [];
      const d0 = performance.now();
      for await (const tok of seq.evaluate([toks[toks.length - 1]], { temperature: 0 })) {
        tokens.push(tok as unknown as number);
        if (++n >= opts.gen) break;
      }
      decodeS = Math.min(decodeS, (performance.now() - d0) / 1000);
      seq.dispose();
    }
    return { prefillTokS: toks.length / prefillS, decodeTokS: n / decodeS, loadS, build: `node-llama-cpp ${llama.buildType} ${llama.cpuMathCores ?? ''}`.trim(), tokens };
  } finally {
    await ctx.dispose();
    await model.dispose();
    await llama.dispose();
  }
}
