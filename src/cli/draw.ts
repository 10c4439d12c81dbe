// `--draw`: paint grounding boxes and points onto the original image (sharp + an SVG overlay) and save it.

import { toPixels, type Grounding, type PixelGrounding } from '../generate/grounding.js';
import { CliError } from './common.js';

const COLORS = ['#ff3b30', '#34c759', '#007aff', '#ff9500', '#af52de', '#ffcc00', '#5ac8fa', '#ff2d55'];

const escapeXml = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Map the answer's boxes/points to the image (EXIF orientation applied) and write `out` with them drawn. */
export async function drawGrounding(image: string, items: readonly Grounding[], out: string): Promise<PixelGrounding[]> {
  // Loaded on use: sharp's native module costs start-up time every other command does not need to pay.
  const { default: sharp } = await import('sharp');
  let base: { data: Buffer; info: { width: number; height: number } };
  try {
    base = await sharp(image).rotate().png().toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new CliError(`cannot decode image '${image}': ${(e as Error).message}`);
  }
  const { width, height } = base.info;
  const mapped = toPixels(items, width, height);
  const stroke = Math.max(2, Math.round(Math.min(width, height) / 200));
  const font = Math.max(12, Math.round(Math.min(width, height) / 30));
  const shapes = mapped.map((g, i) => {
    const c = COLORS[i % COLORS.length];
    const label = g.label ? escapeXml(g.label) : '';
    if (g.kind === 'point') {
      const [x, y] = g.pixels;
      return `<circle cx="${x}" cy="${y}" r="${stroke * 3}" fill="${c}" stroke="white" stroke-width="${stroke / 2}"/>` + (label ? `<text x="${x + stroke * 4}" y="${y}" fill="${c}" font-size="${font}" font-family="sans-serif">${label}</text>` : '');
    }
    const [x1, y1, x2, y2] = g.pixels;
    const ty = y1 >= font + 4 ? y1 - 4 : y1 + font;
    return `<rect x="${x1}" y="${y1}" width="${x2 - x1}" height="${y2 - y1}" fill="none" stroke="${c}" stroke-width="${stroke}"/>` + (label ? `<text x="${x1 + 2}" y="${ty}" fill="${c}" font-size="${font}" font-family="sans-serif">${label}</text>` : '');
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${shapes.join('')}</svg>`;
  try {
    await sharp(base.data).composite([{ input: Buffer.from(svg) }]).png().toFile(out);
  } catch (e) {
    throw new CliError(`cannot write '${out}': ${(e as Error).message}`);
  }
  return mapped;
}
