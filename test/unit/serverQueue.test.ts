// FIFO admission: order, a waiter that leaves is dropped without blocking the line, the length limit, shutdown.
import { describe, expect, it } from 'vitest';
import { FifoQueue } from '../../src/server/queue.js';
import { sniffMime, toDataUrl } from '../../src/server/media.js';

describe('FifoQueue', () => {
  it('grants in arrival order, one at a time', async () => {
    const q = new FifoQueue(10);
    const order: number[] = [];
    const first = await q.acquire();
    const later = [1, 2, 3].map((i) => q.acquire().then((release) => (order.push(i), release)));
    expect(q.waiting).toBe(3);
    first();
    for (const p of later) (await p)();
    expect(order).toEqual([1, 2, 3]);
    expect(q.running).toBe(0);
  });

  it('drops a waiter whose signal aborts, and the next one still gets its turn', async () => {
    const q = new FifoQueue(10);
    const release = await q.acquire();
    const ctl = new AbortController();
    const gone = q.acquire(ctl.signal);
    const next = q.acquire();
    ctl.abort();
    await expect(gone).rejects.toMatchObject({ name: 'AbortError' });
    expect(q.waiting).toBe(1);
    release();
    (await next)();
    expect(q.running).toBe(0);
  });

  it('refuses beyond its limit with a 429, rejects an already-aborted signal, drains on shutdown', async () => {
    const q = new FifoQueue(1);
    const release = await q.acquire();
    const waiting = q.acquire();
    await expect(q.acquire()).rejects.toMatchObject({ status: 429, code: 'queue_full' });
    const ctl = new AbortController();
    ctl.abort();
    await expect(q.acquire(ctl.signal)).rejects.toMatchObject({ name: 'AbortError' });
    q.drain(new Error('closing'));
    await expect(waiting).rejects.toThrow('closing');
    release();
    release(); // a second call is harmless
    expect(q.running).toBe(0);
  });
});

describe('media data URLs', () => {
  it('sniffs common image and video types from their magic numbers', () => {
    const b = (...x: (number | string)[]) => new Uint8Array(x.flatMap((v) => (typeof v === 'string' ? [...v].map((c) => c.charCodeAt(0)) : [v])));
    expect(sniffMime(b(0x89, 'PNG', 13, 10))).toBe('image/png');
    expect(sniffMime(b(0xff, 0xd8, 0xff, 0xe0))).toBe('image/jpeg');
    expect(sniffMime(b('RIFF', 0, 0, 0, 0, 'WEBP'))).toBe('image/webp');
    expect(sniffMime(b(0, 0, 0, 0x18, 'ftypmp42'))).toBe('video/mp4');
    expect(sniffMime(b('hello'))).toBe('application/octet-stream');
    expect(toDataUrl(b(0x89, 'PNG'))).toBe('data:image/png;base64,iVBORw==');
  });
});
