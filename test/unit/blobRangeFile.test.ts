// blobRangeFile (picked folders and the browser weight cache): the BYOB stream path, and the fallbacks a browser can
// force on it: a read that stalls (Chromium's OPFS slices did), a Blob whose stream is not a byte stream, and a
// stream that ends early. The Blobs here are Node's, wrapped so that their streams misbehave on purpose.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { blobRangeFile } from '../../src/io/blobSource.js';
import { SourceError } from '../../src/io/sourceBase.js';

const N = 300_000;
const data = Uint8Array.from({ length: N }, (_, i) => (i * 7 + (i >> 9)) & 255);

/** A Blob-like over `data` whose slices' streams come from `stream(start)`; counts the stream() and arrayBuffer() calls. */
function fakeBlob(stream: (start: number, end: number) => ReadableStream<Uint8Array>) {
  const calls = { stream: 0, arrayBuffer: 0 };
  const slice = (start = 0, end = N) => ({
    size: end - start,
    stream: () => (calls.stream++, stream(start, end)),
    arrayBuffer: async () => (calls.arrayBuffer++, data.slice(start, end).buffer),
  });
  return { blob: { size: N, slice } as unknown as Blob, calls };
}

/** A byte stream over data[start, end) that stops answering after `stallAfter` bytes (never, when Infinity). */
function byteStream(start: number, end: number, stallAfter = Infinity, endEarlyAt = Infinity): ReadableStream<Uint8Array> {
  let pos = start;
  return new ReadableStream({
    type: 'bytes',
    pull(c) {
      if (pos - start >= stallAfter) return new Promise(() => {}); // the stall: no bytes, no end, ever
      const req = c.byobRequest!;
      const view = req.view as Uint8Array;
      const stop = Math.min(end, start + endEarlyAt);
      if (pos >= stop) {
        c.close();
        req.respond(0);
        return;
      }
      const n = Math.min(view.byteLength, stop - pos, 10_000, Math.max(1, start + stallAfter - pos));
      view.set(data.subarray(pos, pos + n));
      pos += n;
      req.respond(n);
    },
  });
}

afterEach(() => vi.restoreAllMocks());

describe('blobRangeFile', () => {
  it('reads ranges through one stream per run of consecutive reads, queued, with the bytes of the blob', async () => {
    const { blob, calls } = fakeBlob((s, e) => byteStream(s, e));
    const f = blobRangeFile(blob, 'model.safetensors');
    const a = new Uint8Array(70_000), b = new Uint8Array(50_000), c = new Uint8Array(1000);
    // Issued together: the queue keeps the stream's position the one the next read continues.
    const [na, nb] = await Promise.all([f.read(a, 1000), f.read(b, 71_000)]);
    expect([na, nb]).toEqual([70_000, 50_000]);
    expect(a).toEqual(data.subarray(1000, 71_000));
    expect(b).toEqual(data.subarray(71_000, 121_000));
    expect(calls.stream).toBe(1);
    expect(await f.read(c, 5)).toBe(1000); // a jump back: a new stream
    expect(c).toEqual(data.subarray(5, 1005));
    expect(calls.stream).toBe(2);
    const tail = new Uint8Array(500);
    expect(await f.read(tail, N - 200)).toBe(200); // the last bytes: a short read, not an error
    expect(tail.subarray(0, 200)).toEqual(data.subarray(N - 200));
    expect(await f.read(tail, N)).toBe(0);
    await f.close();
  });

  it('a read that makes no progress for 2 s finishes by slices, and later reads use slices too', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const { blob, calls } = fakeBlob((s, e) => byteStream(s, e, 25_000));
    const f = blobRangeFile(blob, 'cache/model.safetensors');
    const a = new Uint8Array(60_000);
    const t0 = Date.now();
    expect(await f.read(a, 10_000)).toBe(60_000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1900);
    expect(a).toEqual(data.subarray(10_000, 70_000));
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0][0])).toMatch(/reading cache\/model\.safetensors stalled at byte 35000; reading it without streams/);
    const b = new Uint8Array(20_000);
    expect(await f.read(b, 70_000)).toBe(20_000);
    expect(b).toEqual(data.subarray(70_000, 90_000));
    expect(calls.stream).toBe(1); // no stream after the stall
    expect(calls.arrayBuffer).toBe(2);
    await f.close();
  }, 10_000);

  it('a Blob whose stream is not a byte stream is read by slices', async () => {
    const { blob, calls } = fakeBlob((s, e) => new ReadableStream({ start: (c) => (c.enqueue(data.slice(s, e)), c.close()) }));
    const f = blobRangeFile(blob, 'x.safetensors');
    const a = new Uint8Array(4096);
    expect(await f.read(a, 123)).toBe(4096);
    expect(a).toEqual(data.subarray(123, 4219));
    expect(await f.read(a, 4219)).toBe(4096);
    expect(a).toEqual(data.subarray(4219, 8315));
    expect(calls.stream).toBe(1);
    expect(calls.arrayBuffer).toBe(2);
  });

  it('a stream that ends before the blob does is an error naming the file and the byte, and the next read recovers', async () => {
    let first = true;
    const { blob } = fakeBlob((s, e) => {
      const short = first;
      first = false;
      return byteStream(s, e, Infinity, short ? 30_000 : Infinity);
    });
    const f = blobRangeFile(blob, 'model-00001-of-00002.safetensors');
    const a = new Uint8Array(50_000);
    const err = await f.read(a, 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceError);
    expect(String(err)).toMatch(/model-00001-of-00002\.safetensors: ended at byte 30000 of 300000/);
    expect(await f.read(a, 0)).toBe(50_000); // a fresh stream from the same position
    expect(a).toEqual(data.subarray(0, 50_000));
  });
});
