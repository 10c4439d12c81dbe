// The shipped demo: a 5M-parameter Qwen3-VL trained by train/train.py on synthetic pictures (shapes, colours,
// counting, positions, rendered words, grounding), picture pairs and short clips, in assets/qwen3-vl-demo/, and
// the questions `run --demo` asks about the pictures and clip in assets/demo/.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from './demo.js';

export const demoModelDir = path.join(packageRoot, 'assets', 'qwen3-vl-demo');
export const demoAssetsDir = path.join(packageRoot, 'assets', 'demo');

export interface DemoQuestion {
  readonly task: string;
  /** Absolute paths of the pictures the question is about (none for the clip). */
  readonly images: readonly string[];
  /** Frame files of the clip and its frame rate, for the video question. */
  readonly video?: { readonly frames: readonly string[]; readonly fps: number };
  readonly question: string;
  /** The true answer (the generator's), shown next to the model's. */
  readonly answer: string;
}

/** A question as train.py stores it (demo.json, bench/accuracy). */
export interface StoredQuestion {
  task: string;
  images?: string[];
  video?: string[];
  fps?: number;
  question: string;
  answer: string;
}

/** The demo's questions (assets/demo/demo.json) with their media resolved. */
export function demoQuestions(): DemoQuestion[] {
  const file = path.join(demoAssetsDir, 'demo.json');
  if (!existsSync(file)) throw new Error(`the demo questions are missing (${file}): is the package complete?`);
  const items = JSON.parse(readFileSync(file, 'utf8')) as StoredQuestion[];
  return items.map((q) => ({
    task: q.task,
    images: (q.images ?? []).map((f) => path.join(demoAssetsDir, f)),
    video: q.video ? { frames: q.video.map((f) => path.join(demoAssetsDir, f)), fps: q.fps ?? 1 } : undefined,
    question: q.question,
    answer: q.answer,
  }));
}

/** One user turn for a demo question: media first, then the text (the training format). */
export function demoMessage(q: DemoQuestion): { role: 'user'; content: unknown[] } {
  const content: unknown[] = q.images.map((image) => ({ type: 'image', image }));
  if (q.video) content.push({ type: 'video', video: { frames: q.video.frames, fps: q.video.fps } });
  content.push({ type: 'text', text: q.question });
  return { role: 'user', content };
}

/** Whether `got` answers a question whose true answer is `want`: grounding by label and IoU ≥ 0.5, the rest exactly. */
export function isCorrect(task: string, got: string, want: string): boolean {
  if (task !== 'ground') return got.trim() === want;
  const box = (s: string): { label: string; b: number[] } | null => {
    try {
      const v = JSON.parse(s) as { bbox_2d?: unknown; label?: unknown }[];
      const o = Array.isArray(v) ? v[0] : null;
      if (!o || !Array.isArray(o.bbox_2d) || o.bbox_2d.length !== 4 || !o.bbox_2d.every((x) => typeof x === 'number')) return null;
      return { label: String(o.label), b: o.bbox_2d as number[] };
    } catch {
      return null;
    }
  };
  const g = box(got.trim());
  const w = box(want);
  if (!g || !w || g.label !== w.label) return false;
  const ix = Math.max(0, Math.min(g.b[2], w.b[2]) - Math.max(g.b[0], w.b[0]));
  const iy = Math.max(0, Math.min(g.b[3], w.b[3]) - Math.max(g.b[1], w.b[1]));
  const inter = ix * iy;
  const union = (g.b[2] - g.b[0]) * (g.b[3] - g.b[1]) + (w.b[2] - w.b[0]) * (w.b[3] - w.b[1]) - inter;
  return union > 0 && inter / union >= 0.5;
}
