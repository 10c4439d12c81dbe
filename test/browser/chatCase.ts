// The chat case both sides of model.browser.ts run (Node on ref as the expectation, the page on webgpu): two PNGs
// and a question, small pixel budgets so SwiftShader stays quick.
import type { ChatMessage } from '../../src/processor/index.js';

export interface ChatCase {
  /** PNG bytes, as plain arrays (they cross the page boundary as JSON). */
  readonly images: number[][];
  readonly prompt: string;
  readonly maxTokens: number;
  readonly pixels: { minPixels: number; maxPixels: number };
}

export interface ChatCaseResult {
  readonly inputIds: number[];
  readonly grid: number[][];
  readonly pixelHash: string;
  readonly tokens: number[];
  readonly text: string;
}

export function chatMessages(prompt: string, images: readonly (Uint8Array | Blob)[]): ChatMessage[] {
  return [{ role: 'user', content: [...images.map((image) => ({ type: 'image' as const, image })), { type: 'text' as const, text: prompt }] }];
}
