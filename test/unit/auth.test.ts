// API key matching (scheme, spacing, near misses, arrays) and the bind rule for unauthenticated servers.
import { describe, expect, it } from 'vitest';
import { apiKeyMatches, BindPolicyError, checkBindPolicy, isLoopbackHost } from '../../src/server/auth.js';

describe('apiKeyMatches', () => {
  const key = 's3cret-key';
  it('accepts the key with the Bearer scheme, any case and surrounding spaces', () => {
    expect(apiKeyMatches('Bearer s3cret-key', key)).toBe(true);
    expect(apiKeyMatches('bearer s3cret-key', key)).toBe(true);
    expect(apiKeyMatches('  BEARER   s3cret-key  ', key)).toBe(true);
    expect(apiKeyMatches(['Bearer s3cret-key'], key)).toBe(true);
  });
  it('refuses missing, wrong, prefixed, suffixed or scheme-less keys', () => {
    for (const h of [undefined, '', 'Bearer', 'Bearer ', 'Bearer s3cret-ke', 'Bearer s3cret-key2', 'Bearer S3cret-key', 's3cret-key', 'Basic s3cret-key', 'Bearer  x s3cret-key']) {
      expect(apiKeyMatches(h, key)).toBe(false);
    }
  });
});

describe('isLoopbackHost', () => {
  it.each([
    ['127.0.0.1', true], ['127.1.2.3', true], ['::1', true], ['[::1]', true], ['localhost', true], ['::ffff:127.0.0.1', true],
    ['0.0.0.0', false], ['::', false], ['192.168.1.5', false], ['10.0.0.1', false], ['example.com', false], ['::ffff:10.0.0.1', false],
  ])('%s → %s', (h, loop) => expect(isLoopbackHost(h)).toBe(loop));
});

describe('checkBindPolicy', () => {
  it('allows loopback without a key, anything with a key or with the explicit opt-out', () => {
    expect(() => checkBindPolicy('127.0.0.1', undefined, false)).not.toThrow();
    expect(() => checkBindPolicy('0.0.0.0', 'k', false)).not.toThrow();
    expect(() => checkBindPolicy('0.0.0.0', undefined, true)).not.toThrow();
  });
  it('refuses a network address without a key, and an empty key', () => {
    expect(() => checkBindPolicy('0.0.0.0', undefined, false)).toThrow(BindPolicyError);
    expect(() => checkBindPolicy('::', undefined, false)).toThrow(/--insecure-no-auth/);
    expect(() => checkBindPolicy('127.0.0.1', '', false)).toThrow(/empty/);
  });
});
