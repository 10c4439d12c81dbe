// The SSRF-safe fetcher: the address filter on every range the policy names, and real fetches from a local server
// (with an injected filter that lets 127.0.0.1 through) for redirects, DNS answers, size and time limits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FetchPolicyError, isBlockedAddress, parseV6, safeFetch, type FetchPolicy } from '../../src/server/fetchPolicy.js';

describe('isBlockedAddress', () => {
  it.each([
    ['0.0.0.0', true], ['10.1.2.3', true], ['100.64.0.1', true], ['100.127.255.255', true], ['127.0.0.1', true], ['127.255.0.9', true],
    ['169.254.169.254', true], ['172.16.0.1', true], ['172.31.255.255', true], ['192.168.1.1', true], ['192.0.2.7', true],
    ['198.18.0.1', true], ['224.0.0.1', true], ['255.255.255.255', true], ['240.0.0.1', true],
    ['8.8.8.8', false], ['1.1.1.1', false], ['100.63.255.255', false], ['100.128.0.0', false], ['172.32.0.1', false], ['172.15.255.255', false],
    ['93.184.216.34', false], ['169.255.0.1', false],
  ])('IPv4 %s → %s', (a, blocked) => expect(isBlockedAddress(a)).toBe(blocked));

  it.each([
    ['::1', true], ['::', true], ['::ffff:127.0.0.1', true], ['::ffff:8.8.8.8', true], ['::ffff:7f00:1', true], ['64:ff9b::808:808', true],
    ['fc00::1', true], ['fd12:3456::1', true], ['fe80::1', true], ['fe80::1%eth0', true], ['fec0::1', true], ['ff02::1', true],
    ['2001:db8::1', true], ['2001::1', true], ['2002:7f00:1::1', true], ['3fff::1', true],
    ['2606:4700:4700::1111', false], ['2a00:1450:4001:80b::200e', false], ['2001:4860:4860::8888', false],
  ])('IPv6 %s → %s', (a, blocked) => expect(isBlockedAddress(a)).toBe(blocked));

  it('treats anything that is not an IP address as blocked', () => {
    expect(isBlockedAddress('localhost')).toBe(true);
    expect(isBlockedAddress('')).toBe(true);
  });

  it('parses IPv6 forms into 16 bytes', () => {
    expect(parseV6('::1')).toEqual([...Array(15).fill(0), 1]);
    expect(parseV6('::ffff:1.2.3.4')).toEqual([...Array(10).fill(0), 0xff, 0xff, 1, 2, 3, 4]);
    expect(parseV6('2001:db8::8:1')).toEqual([0x20, 0x01, 0x0d, 0xb8, ...Array(8).fill(0), 0, 8, 0, 1]);
    expect(parseV6('1:2:3:4:5:6:7:8')).toEqual([0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]);
  });
});

describe('safeFetch', () => {
  let server: http.Server;
  let port: number;
  const hits: string[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      hits.push(req.url ?? '');
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname === '/ok') {
        res.writeHead(200, { 'content-type': 'image/png' });
        res.end(Buffer.from('PNGDATA'));
      } else if (u.pathname === '/redirect') {
        res.writeHead(302, { location: u.searchParams.get('to') ?? '/ok' });
        res.end();
      } else if (u.pathname === '/loop') {
        res.writeHead(301, { location: '/loop' });
        res.end();
      } else if (u.pathname === '/big') {
        res.writeHead(200, { 'content-length': String(2_000_000) });
        res.end(Buffer.alloc(2_000_000));
      } else if (u.pathname === '/chunked') {
        res.writeHead(200);
        for (let i = 0; i < 40; i++) res.write(Buffer.alloc(50_000));
        res.end();
      } else if (u.pathname === '/hang') {
        // never answers
      } else if (u.pathname === '/drip') {
        res.writeHead(200);
        const t = setInterval(() => res.write('x'), 20);
        res.on('close', () => clearInterval(t));
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  // Tests reach 127.0.0.1 only through an injected filter; every other address keeps the real one.
  const testPolicy = (o: Partial<FetchPolicy> = {}): FetchPolicy => ({
    maxBytes: 1_000_000,
    timeoutMs: 2000,
    isBlocked: (a) => a !== '127.0.0.1' && isBlockedAddress(a),
    resolve: async (h) => ({ 'public.test': ['127.0.0.1'], 'rebind.test': ['127.0.0.1', '10.0.0.7'], 'meta.test': ['169.254.169.254'] })[h] ?? [],
    ...o,
  });
  const failure = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      expect(e).toBeInstanceOf(FetchPolicyError);
      return e as FetchPolicyError;
    }
    throw new Error('expected a FetchPolicyError');
  };

  it('fetches an allowed URL, by address and by name', async () => {
    const r = await safeFetch(`http://127.0.0.1:${port}/ok`, testPolicy());
    expect(Buffer.from(r.bytes).toString()).toBe('PNGDATA');
    expect(r.contentType).toBe('image/png');
    const n = await safeFetch(`http://public.test:${port}/ok`, testPolicy());
    expect(Buffer.from(n.bytes).toString()).toBe('PNGDATA');
  });

  it('refuses loopback, private and metadata addresses with the default filter, before connecting', async () => {
    const before = hits.length;
    for (const u of [`http://127.0.0.1:${port}/ok`, `http://localhost:${port}/ok`, `http://[::1]:${port}/ok`, `http://[::ffff:127.0.0.1]:${port}/ok`, `http://2130706433:${port}/ok`, `http://0x7f.1:${port}/ok`]) {
      expect((await failure(safeFetch(u, { maxBytes: 1000, timeoutMs: 2000 }))).code).toBe('blocked_address');
    }
    expect((await failure(safeFetch(`http://meta.test/latest`, testPolicy()))).code).toBe('blocked_address');
    expect(hits.length).toBe(before);
  });

  it('refuses a name when any of its addresses is private (DNS rebinding)', async () => {
    const e = await failure(safeFetch(`http://rebind.test:${port}/ok`, testPolicy()));
    expect(e.code).toBe('blocked_address');
    expect(e.message).toMatch(/10\.0\.0\.7/);
  });

  it('checks every redirect target again', async () => {
    const ok = await safeFetch(`http://127.0.0.1:${port}/redirect?to=/ok`, testPolicy());
    expect(ok.url).toBe(`http://127.0.0.1:${port}/ok`);
    const before = hits.length;
    const e = await failure(safeFetch(`http://127.0.0.1:${port}/redirect?to=${encodeURIComponent(`http://127.0.0.2:${port}/ok`)}`, testPolicy()));
    expect(e.code).toBe('blocked_address');
    expect(hits.length).toBe(before + 1); // the redirect itself, never the target
    expect((await failure(safeFetch(`http://127.0.0.1:${port}/redirect?to=${encodeURIComponent('file:///etc/passwd')}`, testPolicy()))).code).toBe('scheme');
    expect((await failure(safeFetch(`http://127.0.0.1:${port}/redirect?to=${encodeURIComponent('http://169.254.169.254/')}`, testPolicy()))).code).toBe('blocked_address');
    expect((await failure(safeFetch(`http://127.0.0.1:${port}/loop`, testPolicy()))).code).toBe('redirects');
  });

  it('refuses other schemes, credentials and garbage', async () => {
    expect((await failure(safeFetch('file:///etc/passwd', testPolicy()))).code).toBe('scheme');
    expect((await failure(safeFetch('ftp://example.com/x', testPolicy()))).code).toBe('scheme');
    expect((await failure(safeFetch('gopher://127.0.0.1:6379/_FLUSHALL', testPolicy()))).code).toBe('scheme');
    expect((await failure(safeFetch(`http://user:pw@127.0.0.1:${port}/ok`, testPolicy()))).code).toBe('credentials');
    expect((await failure(safeFetch('not a url', testPolicy()))).code).toBe('invalid_url');
    expect((await failure(safeFetch(`http://nowhere.test/x`, testPolicy()))).code).toBe('dns');
  });

  it('limits size (declared and streamed), time, and reports HTTP errors', async () => {
    expect((await failure(safeFetch(`http://127.0.0.1:${port}/big`, testPolicy()))).code).toBe('too_large');
    expect((await failure(safeFetch(`http://127.0.0.1:${port}/chunked`, testPolicy()))).code).toBe('too_large');
    const t0 = Date.now();
    expect((await failure(safeFetch(`http://127.0.0.1:${port}/hang`, testPolicy({ timeoutMs: 300 })))).code).toBe('timeout');
    expect((await failure(safeFetch(`http://127.0.0.1:${port}/drip`, testPolicy({ timeoutMs: 300 })))).code).toBe('timeout');
    expect(Date.now() - t0).toBeLessThan(2000);
    const e = await failure(safeFetch(`http://127.0.0.1:${port}/missing`, testPolicy()));
    expect(e.code).toBe('http_status');
    expect(e.message).toMatch(/404/);
  });

  it('a name that never resolves still ends at the deadline', async () => {
    const t0 = Date.now();
    const e = await failure(safeFetch('http://slow.test/x', testPolicy({ timeoutMs: 200, resolve: () => new Promise(() => undefined) })));
    expect(e.code).toBe('timeout');
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('a caller abort is an AbortError, not a policy failure', async () => {
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 100);
    await expect(safeFetch(`http://127.0.0.1:${port}/hang`, testPolicy({ timeoutMs: 5000 }), ctl.signal)).rejects.toMatchObject({ name: 'AbortError' });
  });
});
