// The published Qwen3-VL shapes (spec §1 table) as typed configs, for random-weight benchmarks: the model family's
// SHAPES and config.json synthesis (src/models/qwen3vl/checkpoint.ts), parsed.
import { type ModelShape, SHAPES, configJson } from '../../src/models/qwen3vl/checkpoint.js';
import { type ModelConfig, parseConfig } from '../../src/models/qwen3vl/config.js';

export function shapeConfig(name: string): ModelConfig {
  const s = (SHAPES as Record<string, ModelShape>)[name];
  if (!s) throw new Error(`unknown model shape '${name}' (have ${Object.keys(SHAPES).join(', ')})`);
  return parseConfig(configJson(s), name);
}
