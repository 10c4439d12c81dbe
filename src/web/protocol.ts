// Messages between the page (src/web/client.ts) and the engine's module worker (src/web/worker.ts). Everything
// here survives structured cloning: no functions, no AbortSignals; Files and ImageBitmaps pass as they are.

import type { ChatEvent, ChatOptions, ChatResult } from '../generate/chat.js';
import type { CachedModel } from '../io/weightCache.js';
import type { LoadOptions } from '../models/qwen3vl/load.js';
import type { ChatMessage } from '../processor/index.js';

/** Load options that can cross to the worker (the progress callbacks become messages). */
export type WorkerLoadOptions = Omit<LoadOptions, 'backend' | 'onProgress' | 'cache'> & {
  readonly backend?: 'webgpu' | 'ref';
  /** Keep a URL's checkpoint in the browser's weight cache (default true). */
  readonly cache?: boolean;
  /** Re-hash cached files on load. */
  readonly verifyCache?: boolean;
};
export type WorkerChatOptions = Omit<ChatOptions, 'signal' | 'onPrompt' | 'onPrefillProgress' | 'visionCache'>;

export type LoadProgress =
  | { readonly phase: 'download' | 'cached'; readonly file: string; readonly loadedBytes: number; readonly totalBytes: number }
  | { readonly phase: 'upload'; readonly tensor: string; readonly loadedBytes: number; readonly totalBytes: number };

export interface LoadedInfo {
  /** Where the weights came from (URL or folder label). */
  readonly source: string;
  readonly backend: string;
  readonly layers: number;
  readonly weightBytes: number;
  readonly loadMs: number;
  readonly canChat: boolean;
}

export type Request =
  | { readonly op: 'load'; readonly id: number; readonly source: string | readonly File[]; readonly options: WorkerLoadOptions }
  | { readonly op: 'chat' | 'complete'; readonly id: number; readonly messages: readonly ChatMessage[]; readonly options: WorkerChatOptions }
  | { readonly op: 'abort'; readonly id: number; readonly target: number }
  | { readonly op: 'unload'; readonly id: number }
  | { readonly op: 'cache'; readonly id: number; readonly action: 'list' | 'bytesUsed' | 'delete' | 'clear'; readonly url?: string };

export type Reply =
  | { readonly id: number; readonly kind: 'progress'; readonly progress: LoadProgress }
  | { readonly id: number; readonly kind: 'event'; readonly event: ChatEvent }
  | { readonly id: number; readonly kind: 'prompt'; readonly tokens: number }
  | { readonly id: number; readonly kind: 'prefill'; readonly done: number; readonly total: number }
  | { readonly id: number; readonly kind: 'result'; readonly value: LoadedInfo | ChatResult | CachedModel[] | number | boolean | null }
  | { readonly id: number; readonly kind: 'error'; readonly name: string; readonly message: string };
