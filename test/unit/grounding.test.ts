// Grounding parser: Qwen3-VL's JSON boxes/points and tagged boxes in answer text, mapped to clamped pixels and drawn.
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { groundingInImage, parseGrounding, toPixels } from '../../src/generate/grounding.js';
import { demoImage } from '../../src/tools/demo.js';

describe('parseGrounding', () => {
  it('reads a fenced JSON array of boxes with labels and extra fields', () => {
    const text = 'Here you go:\n```json\n[\n  {"bbox_2d": [100, 200, 300, 400], "label": "cat"},\n  {"bbox_2d": [0, 0, 1000, 1000], "label": "sofa", "color": "red"}\n]\n```';
    expect(parseGrounding(text)).toEqual([
      { kind: 'box', label: 'cat', coords: [100, 200, 300, 400], extra: {} },
      { kind: 'box', label: 'sofa', coords: [0, 0, 1000, 1000], extra: { color: 'red' } },
    ]);
  });

  it('reads points and objects without labels', () => {
    expect(parseGrounding('[{"point_2d": [500, 250], "label": "eye"}, {"bbox_2d": [1, 2, 3, 4]}]')).toEqual([
      { kind: 'point', label: 'eye', coords: [500, 250], extra: {} },
      { kind: 'box', label: null, coords: [1, 2, 3, 4], extra: {} },
    ]);
  });

  it('reads tagged boxes and points, in reading order with JSON', () => {
    const text = '<|object_ref_start|>dog<|object_ref_end|><|box_start|>(10,20),(30,40)<|box_end|> and {"point_2d": [5, 6]} then <|box_start|>(7, 8)<|box_end|>';
    expect(parseGrounding(text).map((g) => [g.kind, g.label, g.coords])).toEqual([
      ['box', 'dog', [10, 20, 30, 40]],
      ['point', null, [5, 6]],
      ['point', null, [7, 8]],
    ]);
  });

  it('skips malformed, truncated and non-grounding JSON without throwing', () => {
    const text = '{"bbox_2d": [1, 2, 3]} {"bbox_2d": ["a", 2, 3, 4]} {not json} {"label": "x"} [{"bbox_2d": [1, 2, 3, 4], "label": "ok"}, {"bbox_2d": [5, 6';
    expect(parseGrounding(text)).toEqual([{ kind: 'box', label: 'ok', coords: [1, 2, 3, 4], extra: {} }]);
    expect(parseGrounding('')).toEqual([]);
    expect(parseGrounding('}}}{{{"')).toEqual([]);
  });

  it('respects braces and escaped quotes inside strings', () => {
    expect(parseGrounding('{"label": "a {weird} \\"name\\"", "bbox_2d": [1, 2, 3, 4]}')[0].label).toBe('a {weird} "name"');
  });
});

describe('toPixels', () => {
  it('maps 0-1000 to pixels of the original image, clamped and ordered', () => {
    const [box, point] = groundingInImage('[{"bbox_2d": [500, 1200, -10, 250]}, {"point_2d": [250, 500]}]', 640, 480);
    expect(box.pixels).toEqual([0, 120, 320, 480]);
    expect(point.pixels).toEqual([160, 240]);
  });

  it('supports another coordinate scale and rejects nonsense sizes', () => {
    expect(toPixels(parseGrounding('{"bbox_2d": [0, 0, 1, 1]}'), 100, 50, 1)[0].pixels).toEqual([0, 0, 100, 50]);
    expect(() => toPixels([], 0, 10)).toThrow(/positive/);
    expect(() => toPixels([], 10, 10, 0)).toThrow(/scale/);
  });
});

describe('drawGrounding', () => {
  it('paints mapped boxes onto the original image and returns their pixels', async () => {
    const { drawGrounding } = await import('../../src/cli/draw.js');
    const sharp = (await import('sharp')).default;
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'qwen3vl-draw-')), 'boxes.png');
    const drawn = await drawGrounding(demoImage, parseGrounding('[{"bbox_2d": [500, 100, 700, 300], "label": "sky"}, {"point_2d": [500, 500]}]'), out);
    expect(drawn.map((g) => g.pixels)).toEqual([[160, 24, 224, 72], [160, 120]]);
    const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([320, 240]);
    const px = (x: number, y: number) => Array.from(data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3));
    expect(px(160, 48)).toEqual([255, 59, 48]); // the box's left edge, over the sky, in the first colour
    expect(px(190, 48)).not.toEqual([255, 59, 48]); // inside the box: untouched
  });
});
