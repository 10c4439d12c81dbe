// Python-semantics pieces of the processor: round-half-even, smart_resize, `.1f` formatting on the exact binary
// value, numpy linspace rounding, frame sampling, timestamps, prompt expansion.
import { describe, expect, it } from 'vitest';
import {
  expandPrompt,
  formatFixed,
  groupTimestamps,
  linspaceRound,
  mmTokenTypes,
  pyRound,
  sampleFrameIndices,
  smartResize,
  smartResizeVideo,
  SmartResizeError,
  videoPlaceholder,
  InvalidInputError,
} from '../../src/processor/index.js';

describe('pyRound (Python round: ties to even)', () => {
  it.each([
    [0.5, 0],
    [1.5, 2],
    [2.5, 2],
    [3.5, 4],
    [-0.5, 0],
    [-1.5, -2],
    [2.4999999999999996, 2],
    [1.0000000000000002, 1],
    [74.99999999999999, 75],
  ])('round(%d) = %d', (x, want) => expect(pyRound(x)).toBe(want));
});

describe('smart_resize (images, factor 32)', () => {
  const cases: [number, number, number, number, [number, number]][] = [
    // [h, w, min, max, (h', w')]
    [1365, 2048, 65536, 16777216, [1376, 2048]], // spec: 2048x1365 → grid 86x128
    [480, 640, 65536, 16777216, [480, 640]],
    [100, 100, 65536, 16777216, [256, 256]],
    [48, 2400, 65536, 16777216, [64, 2400]], // 48/32 = 1.5 rounds to 2
    [80, 80, 4096, 16777216, [64, 64]], // 80/32 = 2.5 rounds to 2 (JS Math.round would give 96)
    [112, 112, 4096, 16777216, [128, 128]], // 3.5 rounds to 4
    [20, 30, 65536, 16777216, [224, 320]], // tiny: min-pixels branch, ceil
    [512, 512, 65536, 200704, [448, 448]], // max-pixels branch, floor
    [427, 640, 65536, 200704, [352, 544]],
    [10, 1990, 64, 2048, [32, 128]], // a side that rounds to 0 sends it to the min branch
    [20, 3000, 64, 4096, [32, 768]], // shrink branch: the short side is clamped to one factor (may exceed max)
  ];
  it.each(cases)('%d x %d (min %d, max %d) → %j', (h, w, mn, mx, want) => expect(smartResize(h, w, 32, mn, mx)).toEqual(want));

  it('refuses aspect ratios above 200 and bad sizes', () => {
    expect(() => smartResize(10, 2001, 32, 4096, 1e7)).toThrow(SmartResizeError);
    expect(() => smartResize(10, 2000, 32, 4096, 1e7)).not.toThrow();
    expect(() => smartResize(0, 10)).toThrow(/positive/);
    expect(() => smartResize(10, 10, 32, 100, 10)).toThrow(/min/);
  });
});

describe('smart_resize for video clips', () => {
  it('uses the whole-clip budget and rounds frames to the temporal factor', () => {
    expect(smartResizeVideo(6, 256, 256, 2, 32, 4096, 25165824)).toEqual([256, 256]);
    // 768 frames of 1080p blow the 24M-pixel clip budget: each frame shrinks.
    const [h, w] = smartResizeVideo(768, 1080, 1920, 2, 32, 4096, 25165824);
    expect(h % 32).toBe(0);
    expect(768 * h * w).toBeLessThanOrEqual(25165824);
    expect(() => smartResizeVideo(1, 256, 256)).toThrow(/at least 2 frames/);
    // Sides under the factor are scaled up first instead of failing.
    expect(smartResizeVideo(4, 16, 64, 2, 32, 4096, 25165824)).toEqual([32, 128]);
  });
});

describe("format(x, '.1f') on the exact binary value (expected strings checked with CPython)", () => {
  it.each([
    [0.25, '0.2'],
    [0.75, '0.8'],
    [1.25, '1.2'],
    [2.25, '2.2'],
    [0.35, '0.3'], // 0.35 is 0.34999999999999997779…
    [0.45, '0.5'], // 0.45 is 0.45000000000000001110…
    [1.45, '1.4'], // 1.45 is 1.44999999999999995559…
    [0.3, '0.3'],
    [2.6, '2.6'],
    [0, '0.0'],
    [-0.25, '-0.2'],
    [-0.04, '-0.0'],
    [12345.05, '12345.0'], // 12345.04999999999927…
    [0.05, '0.1'], // 0.05000000000000000277…
    [0.15, '0.1'], // 0.14999999999999999444…
    [1e21, '1000000000000000000000.0'],
  ])('%d → %s', (x, want) => expect(formatFixed(x)).toBe(want));

  it('JS toFixed differs exactly on ties', () => {
    expect((0.25).toFixed(1)).toBe('0.3');
    expect(formatFixed(0.25)).toBe('0.2');
  });
});

describe('frame sampling', () => {
  it('numpy-style linspace rounding', () => {
    expect(linspaceRound(29, 6)).toEqual([0, 6, 12, 17, 23, 29]); // 5.8, 11.6, 17.4, 23.2
    expect(linspaceRound(3, 3)).toEqual([0, 2, 3]); // 1.5 → 2 (half-even)
    expect(linspaceRound(5, 3)).toEqual([0, 2, 5]); // 2.5 → 2
    expect(linspaceRound(10, 1)).toEqual([0]);
  });

  it('spec example: 10 s at 30 fps → 20 frames', () => {
    const idx = sampleFrameIndices(300, 30, { fps: 2, minFrames: 4, maxFrames: 768 });
    expect(idx).toHaveLength(20);
    expect(idx.slice(0, 6)).toEqual([0, 16, 31, 47, 63, 79]);
    const ts = groupTimestamps(idx.map((i) => i / 30));
    expect(ts.slice(0, 5).map((t) => formatFixed(t))).toEqual(['0.3', '1.3', '2.4', '3.4', '4.5']);
  });

  it('int() truncation, min/max frames and the total bound', () => {
    expect(sampleFrameIndices(59, 30, { fps: 2, minFrames: 1, maxFrames: 768 })).toHaveLength(3); // 59/30*2 = 3.93 → 3
    expect(sampleFrameIndices(10, 30, { fps: 2, minFrames: 4, maxFrames: 768 })).toHaveLength(4);
    expect(sampleFrameIndices(3, 30, { fps: 2, minFrames: 4, maxFrames: 768 })).toEqual([0, 1, 2]);
    expect(sampleFrameIndices(100000, 30, { fps: 2, minFrames: 4, maxFrames: 768 })).toHaveLength(768);
    expect(sampleFrameIndices(30, undefined, { fps: 2, minFrames: 1, maxFrames: 768 })).toHaveLength(2); // 24 fps assumed
    expect(sampleFrameIndices(30, 10, { numFrames: 5, minFrames: 4, maxFrames: 768 })).toEqual([0, 7, 14, 22, 29]);
    expect(() => sampleFrameIndices(30, 10, { fps: 2, numFrames: 5, minFrames: 4, maxFrames: 8 })).toThrow(/exclusive/);
  });

  it('timestamps of an odd frame count repeat the last index', () => {
    expect(groupTimestamps([0, 0.5, 1])).toEqual([0.25, 1]);
    // list-of-frames default (fps 2): 0.25, 1.25, … which Python prints as 0.2, 1.2
    expect(groupTimestamps([0, 0.5, 1, 1.5]).map((t) => formatFixed(t))).toEqual(['0.2', '1.2']);
  });
});

describe('prompt expansion', () => {
  const IMG = '<|vision_start|><|image_pad|><|vision_end|>';
  const VID = '<|vision_start|><|video_pad|><|vision_end|>';
  it('images: t·h·w/4 pads, wrappers kept', () => {
    expect(expandPrompt(`a${IMG}b${IMG}`, [[1, 4, 6], [1, 2, 2]], [])).toBe(`a<|vision_start|>${'<|image_pad|>'.repeat(6)}<|vision_end|>b<|vision_start|><|image_pad|><|vision_end|>`);
  });

  it('videos: the wrapper triple becomes per-group timestamps and wrappers', () => {
    const v = { grid: [2, 4, 4], timestamps: [0.25, 1.25] };
    const body = `<0.2 seconds><|vision_start|>${'<|video_pad|>'.repeat(4)}<|vision_end|><1.2 seconds><|vision_start|>${'<|video_pad|>'.repeat(4)}<|vision_end|>`;
    expect(videoPlaceholder(v)).toBe(body);
    expect(expandPrompt(`x${VID}y`, [], [v])).toBe(`x${body}y`);
    expect(expandPrompt(`x${VID}y`, [], [v], { keepOuterVideoWrappers: true })).toBe(`x<|vision_start|>${body}<|vision_end|>y`);
    expect(expandPrompt('x<|video_pad|>y', [], [v])).toBe(`x${body}y`); // bare pad: only the token is replaced
  });

  it('media are consumed in order across images and videos', () => {
    const out = expandPrompt(`${VID}${IMG}${VID}`, [[1, 2, 4]], [
      { grid: [1, 2, 2], timestamps: [0] },
      { grid: [1, 2, 2], timestamps: [3] },
    ]);
    expect(out).toBe(`<0.0 seconds><|vision_start|><|video_pad|><|vision_end|><|vision_start|><|image_pad|><|image_pad|><|vision_end|><3.0 seconds><|vision_start|><|video_pad|><|vision_end|>`);
  });

  it('count mismatches and bad grids are errors', () => {
    expect(() => expandPrompt(IMG, [], [])).toThrow(InvalidInputError);
    expect(() => expandPrompt('no media', [[1, 2, 2]], [])).toThrow(/1 images given/);
    expect(() => expandPrompt(IMG, [[1, 3, 3]], [])).toThrow(/merge windows/);
    expect(() => expandPrompt(VID, [], [{ grid: [2, 2, 2], timestamps: [0] }])).toThrow(/timestamps/);
  });

  it('mm token types', () => {
    expect(mmTokenTypes([1, 151655, 151656, 2], 151655, 151656)).toEqual([0, 1, 2, 0]);
  });
});
