// Grounding answers: boxes and points that Qwen3-VL writes in 0-1000 coordinates relative to the input image, parsed
// from the answer text (JSON objects or <|box_start|> tags) and mapped to the original image's pixels.

export interface Grounding {
  readonly kind: 'box' | 'point';
  readonly label: string | null;
  /** As the model wrote them: [x1, y1, x2, y2] for a box, [x, y] for a point (0-1000 by default). */
  readonly coords: readonly number[];
  /** Other fields of the JSON object (e.g. `"color"`), kept for the caller. */
  readonly extra: Readonly<Record<string, unknown>>;
}

export interface PixelGrounding extends Grounding {
  /** Integer pixels in the original image, clamped to it; boxes ordered so x1 ≤ x2 and y1 ≤ y2. */
  readonly pixels: readonly number[];
}

const BOX_KEYS = ['bbox_2d', 'bbox', 'box_2d', 'box'];
const POINT_KEYS = ['point_2d', 'point'];
const LABEL_KEYS = ['label', 'name', 'object', 'text'];

/** Every box and point in the answer, in the order written. Malformed pieces are skipped, never thrown on. */
export function parseGrounding(text: string): Grounding[] {
  const found: { at: number; g: Grounding }[] = [];
  for (const [at, obj] of jsonObjects(text)) {
    const g = fromObject(obj);
    if (g) found.push({ at, g });
  }
  for (const m of text.matchAll(TAGGED)) {
    const label = m[1]?.trim() || null;
    const coords = m[2].match(/-?\d+(?:\.\d+)?/g)!.map(Number);
    found.push({ at: m.index, g: { kind: coords.length === 4 ? 'box' : 'point', label, coords, extra: {} } });
  }
  // JSON and tags may interleave; report them in reading order.
  return found.sort((a, b) => a.at - b.at).map((f) => f.g);
}

/** Map model coordinates (0-`scale`) to pixels of a `width`×`height` image, rounded and clamped. */
export function toPixels(items: readonly Grounding[], width: number, height: number, scale = 1000): PixelGrounding[] {
  if (!(width > 0 && height > 0)) throw new RangeError(`image size must be positive (got ${width}x${height})`);
  if (!(scale > 0)) throw new RangeError(`scale must be positive (got ${scale})`);
  const px = (v: number, size: number) => Math.min(size, Math.max(0, Math.round((v / scale) * size)));
  return items.map((g) => {
    if (g.kind === 'point') return { ...g, pixels: [px(g.coords[0], width), px(g.coords[1], height)] };
    const [x1, y1, x2, y2] = g.coords;
    return { ...g, pixels: [px(Math.min(x1, x2), width), px(Math.min(y1, y2), height), px(Math.max(x1, x2), width), px(Math.max(y1, y2), height)] };
  });
}

/** Parse and map in one call. */
export function groundingInImage(text: string, width: number, height: number, scale = 1000): PixelGrounding[] {
  return toPixels(parseGrounding(text), width, height, scale);
}

// `<|object_ref_start|>label<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>`, the label optional; a single
// (x,y) pair is a point. These tags are special tokens: they survive only when decoding keeps special tokens.
const TAGGED = /(?:<\|object_ref_start\|>([^<]*)<\|object_ref_end\|>\s*)?<\|box_start\|>\s*(\(\s*-?[\d.]+\s*,\s*-?[\d.]+\s*\)(?:\s*,\s*\(\s*-?[\d.]+\s*,\s*-?[\d.]+\s*\))?)\s*<\|box_end\|>/g;

function fromObject(o: Record<string, unknown>): Grounding | null {
  const numbers = (v: unknown, n: number) => (Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'number' && Number.isFinite(x)) ? (v as number[]) : null);
  const boxKey = BOX_KEYS.find((k) => numbers(o[k], 4));
  const pointKey = boxKey ? undefined : POINT_KEYS.find((k) => numbers(o[k], 2));
  const key = boxKey ?? pointKey;
  if (!key) return null;
  const labelKey = LABEL_KEYS.find((k) => typeof o[k] === 'string');
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (k !== key && k !== labelKey) extra[k] = v;
  return { kind: boxKey ? 'box' : 'point', label: labelKey ? (o[labelKey] as string) : null, coords: o[key] as number[], extra };
}

/**
 * Every innermost-complete JSON object in the text with its offset: a balanced `{…}` (strings respected) that
 * parses. Arrays of objects, code fences and prose around them need no special handling this way; an object
 * that fails to parse (e.g. cut off by max_tokens) is skipped but objects nested in it are still tried.
 */
function* jsonObjects(text: string): Generator<[number, Record<string, unknown>]> {
  const starts: number[] = [];
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = starts.length > 0;
    } else if (c === '{') {
      starts.push(i);
    } else if (c === '}' && starts.length) {
      const s = starts.pop()!;
      try {
        const v = JSON.parse(text.slice(s, i + 1));
        if (v && typeof v === 'object' && !Array.isArray(v)) yield [s, v];
      } catch {
        // Not JSON after all (prose braces, single quotes); nested objects were already tried.
      }
    }
  }
}
