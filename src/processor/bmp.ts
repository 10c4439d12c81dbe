// A small BMP decoder (sharp's prebuilt libvips has no BMP loader): BITMAPCOREHEADER/INFOHEADER/V4/V5,
// 1/4/8-bit palettes, 16/24/32-bit with or without bit fields, bottom-up or top-down. RLE is refused clearly.

export interface BmpHeader {
  width: number;
  height: number;
  bitsPerPixel: number;
  compression: number;
  topDown: boolean;
  dataOffset: number;
  headerSize: number;
}

export class BmpError extends Error {}

export function isBmp(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d;
}

/** Read the dimensions without decoding (for the decompression-bomb check). */
export function readBmpHeader(b: Uint8Array): BmpHeader {
  if (b.length < 26) throw new BmpError('truncated BMP header');
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const dataOffset = v.getUint32(10, true);
  const headerSize = v.getUint32(14, true);
  let width: number;
  let height: number;
  let bitsPerPixel: number;
  let compression = 0;
  if (headerSize === 12) {
    width = v.getUint16(18, true);
    height = v.getInt16(20, true);
    bitsPerPixel = v.getUint16(24, true);
  } else if (headerSize >= 40) {
    if (b.length < 14 + 40) throw new BmpError('truncated BMP info header');
    width = v.getInt32(18, true);
    height = v.getInt32(22, true);
    bitsPerPixel = v.getUint16(28, true);
    compression = v.getUint32(30, true);
  } else {
    throw new BmpError(`unsupported BMP header size ${headerSize}`);
  }
  const topDown = height < 0;
  return { width, height: Math.abs(height), bitsPerPixel, compression, topDown, dataOffset, headerSize };
}

function maskShift(mask: number): { shift: number; max: number } {
  if (mask === 0) return { shift: 0, max: 0 };
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  return { shift, max: mask >>> shift };
}

/** Decode to interleaved RGB (alpha, if any, is dropped as PIL's convert('RGB') does). */
export function decodeBmp(b: Uint8Array): { data: Uint8Array; width: number; height: number } {
  const h = readBmpHeader(b);
  const { width, height, bitsPerPixel: bpp, compression } = h;
  if (width <= 0 || height <= 0) throw new BmpError(`zero-size BMP (${width}x${height})`);
  if (compression !== 0 && compression !== 3 && compression !== 6) {
    throw new BmpError(`unsupported BMP compression ${compression} (RLE/JPEG/PNG-in-BMP)`);
  }
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const palette: number[][] = [];
  if (bpp <= 8) {
    const entry = h.headerSize === 12 ? 3 : 4;
    const colors = h.headerSize >= 40 && v.getUint32(46, true) > 0 ? v.getUint32(46, true) : 1 << bpp;
    const start = 14 + h.headerSize;
    if (start + colors * entry > b.length) throw new BmpError('truncated BMP palette');
    for (let i = 0; i < colors; i++) palette.push([b[start + i * entry + 2], b[start + i * entry + 1], b[start + i * entry]]);
  }
  let masks: number[] | null = null;
  if (compression === 3 || compression === 6) {
    // Bit fields follow a 40-byte header, or live inside V4/V5 headers at the same offset.
    if (b.length < 14 + 40 + 12) throw new BmpError('truncated BMP bit fields');
    masks = [v.getUint32(54, true), v.getUint32(58, true), v.getUint32(62, true)];
  } else if (bpp === 16) {
    masks = [0x7c00, 0x03e0, 0x001f];
  }
  if (![1, 4, 8, 16, 24, 32].includes(bpp)) throw new BmpError(`unsupported BMP bit depth ${bpp}`);
  const rowBytes = Math.ceil((width * bpp) / 32) * 4;
  if (h.dataOffset + rowBytes * height > b.length) throw new BmpError('truncated BMP pixel data');
  const out = new Uint8Array(width * height * 3);
  const fields = masks ? masks.map(maskShift) : null;
  for (let y = 0; y < height; y++) {
    const srcRow = h.dataOffset + (h.topDown ? y : height - 1 - y) * rowBytes;
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      let rgb: number[];
      if (bpp <= 8) {
        const bit = x * bpp;
        const byte = b[srcRow + (bit >> 3)];
        const idx = (byte >> (8 - bpp - (bit & 7))) & ((1 << bpp) - 1);
        rgb = palette[idx] ?? [0, 0, 0];
      } else if (bpp === 24 || (bpp === 32 && !fields)) {
        const p = srcRow + x * (bpp / 8);
        rgb = [b[p + 2], b[p + 1], b[p]];
      } else {
        const px = bpp === 16 ? v.getUint16(srcRow + x * 2, true) : v.getUint32(srcRow + x * 4, true);
        rgb = fields!.map((f, i) => (f.max === 0 ? 0 : Math.round((((px & masks![i]) >>> f.shift) * 255) / f.max)));
      }
      out[o] = rgb[0];
      out[o + 1] = rgb[1];
      out[o + 2] = rgb[2];
    }
  }
  return { data: out, width, height };
}
