// Load-test clients: streaming chat requests over SSE with timing (first token, total), clients that hang up
// mid-stream, 429 handling with Retry-After, and a /health prober; plus percentile helpers.

export interface RequestResult {
  readonly kind: 'ok' | 'disconnected' | 'throttled' | 'error';
  readonly ms: number;
  readonly firstTokenMs: number | null;
  readonly completionTokens: number;
  readonly detail?: string;
}

export interface ClientPlan {
  readonly base: string;
  readonly apiKey?: string;
  readonly maxTokens: number;
  /** Hang up after this many content chunks (null: read to the end). */
  readonly disconnectAfter: number | null;
  readonly prompt: string;
  readonly image?: string;
}

/** One streaming request; never throws (failures are results). */
export async function streamOnce(p: ClientPlan): Promise<RequestResult> {
  const t0 = performance.now();
  const ctl = new AbortController();
  const content: unknown[] = p.image ? [{ type: 'image_url', image_url: { url: p.image } }, { type: 'text', text: p.prompt }] : [{ type: 'text', text: p.prompt }];
  let first: number | null = null;
  let chunks = 0;
  // Leaving the stream early aborts it, and the abort may surface as an exception: it is still a hang-up.
  let hungUp: RequestResult | null = null;
  try {
    const res = await fetch(`${p.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(p.apiKey && { authorization: `Bearer ${p.apiKey}` }) },
      body: JSON.stringify({ messages: [{ role: 'user', content }], max_tokens: p.maxTokens, stream: true, stream_options: { include_usage: true } }),
      signal: ctl.signal,
    });
    if (res.status === 429) {
      await res.body?.cancel();
      return { kind: 'throttled', ms: performance.now() - t0, firstTokenMs: null, completionTokens: 0, detail: res.headers.get('retry-after') ?? '' };
    }
    if (res.status !== 200) return { kind: 'error', ms: performance.now() - t0, firstTokenMs: null, completionTokens: 0, detail: `HTTP ${res.status}: ${(await res.text()).slice(0, 200)}` };
    let usage = 0;
    let done = false;
    let buf = '';
    const dec = new TextDecoder();
    for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += dec.decode(bytes, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const data = buf.slice(0, i).replace(/^data: /, '');
        buf = buf.slice(i + 2);
        if (data === '[DONE]') {
          done = true;
          continue;
        }
        const ev = JSON.parse(data) as { error?: { message: string }; usage?: { completion_tokens: number }; choices?: { delta?: { content?: string } }[] };
        if (ev.error) return { kind: 'error', ms: performance.now() - t0, firstTokenMs: first, completionTokens: chunks, detail: ev.error.message };
        if (ev.usage) usage = ev.usage.completion_tokens;
        if (ev.choices?.[0]?.delta?.content) {
          chunks++;
          first ??= performance.now() - t0;
          if (p.disconnectAfter !== null && chunks >= p.disconnectAfter) {
            hungUp = { kind: 'disconnected', ms: performance.now() - t0, firstTokenMs: first, completionTokens: chunks };
            ctl.abort();
            return hungUp;
          }
        }
      }
    }
    if (!done) return { kind: 'error', ms: performance.now() - t0, firstTokenMs: first, completionTokens: chunks, detail: 'stream ended without [DONE]' };
    return { kind: 'ok', ms: performance.now() - t0, firstTokenMs: first, completionTokens: usage };
  } catch (e) {
    if (hungUp) return hungUp;
    return { kind: 'error', ms: performance.now() - t0, firstTokenMs: first, completionTokens: chunks, detail: (e as Error).message };
  }
}

/** Polls /health until stopped; every answer must be a 200 within `timeoutMs`. */
export function healthProber(base: string, everyMs = 200, timeoutMs = 2000) {
  const samples: number[] = [];
  const failures: string[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const t0 = performance.now();
      try {
        const r = await fetch(`${base}/health`, { signal: AbortSignal.timeout(timeoutMs) });
        if (r.status !== 200) failures.push(`HTTP ${r.status}`);
        await r.text();
        samples.push(performance.now() - t0);
      } catch (e) {
        failures.push((e as Error).message);
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    samples,
    failures,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}
