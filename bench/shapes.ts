// Published Qwen3-VL shapes (spec §1.5) used by the checkpoint generator and the benchmarks.

export interface TextShape {
  H: number;
  layers: number;
  nh: number;
  nkv: number;
  hd: number;
  I: number;
  tie: boolean;
  moe?: { experts: number; topK: number; inter: number };
}
export interface VisionShape {
  depth: number;
  Hv: number;
  Iv: number;
  deepstack: number[];
}
export interface ModelShape extends TextShape {
  vision: VisionShape;
}

const V4B: VisionShape = { depth: 24, Hv: 1024, Iv: 4096, deepstack: [5, 11, 17] };
const V8B: VisionShape = { depth: 27, Hv: 1152, Iv: 4304, deepstack: [8, 16, 24] };

export const SHAPES = {
  '2B': { H: 2048, layers: 28, nh: 16, nkv: 8, hd: 128, I: 6144, tie: true, vision: V4B },
  '4B': { H: 2560, layers: 36, nh: 32, nkv: 8, hd: 128, I: 9728, tie: true, vision: V4B },
  '8B': { H: 4096, layers: 36, nh: 32, nkv: 8, hd: 128, I: 12288, tie: false, vision: V8B },
  '30B-A3B': { H: 2048, layers: 48, nh: 32, nkv: 4, hd: 128, I: 6144, tie: false, moe: { experts: 128, topK: 8, inter: 768 }, vision: V8B },
} satisfies Record<string, ModelShape>;
export type ShapeName = keyof typeof SHAPES;
