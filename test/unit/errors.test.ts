// errors.ts: every typed error carries the kind the server and CLI map, also after crossing a worker boundary
// (where only name + message survive).
import { describe, expect, it } from 'vitest';
import * as E from '../../src/errors.js';

describe('error kinds', () => {
  it('each class states its kind; subclasses inherit or override it', () => {
    const cases: [Error, E.ErrorKind][] = [
      [new E.CliError('x'), 'usage'],
      [new E.AbortError('x'), 'cancelled'],
      [new E.InputError('x'), 'invalid_input'],
      [new E.SamplingError('x'), 'invalid_input'],
      [new E.ConfigError('x', 'config.json'), 'bad_checkpoint'],
      [new E.SafetensorsError('x', 'a.safetensors'), 'bad_checkpoint'],
      [new E.WeightError('x'), 'bad_checkpoint'],
      [new E.InvalidInputError('x'), 'invalid_input'],
      [new E.ProcessorConfigError('x'), 'bad_checkpoint'],
      [new E.ImageDecodeError('a.png', 'truncated'), 'invalid_input'],
      [new E.InputLimitError('max_images', 'x'), 'invalid_input'],
    ];
    for (const [e, kind] of cases) {
      expect([e.name, E.errorKind(e)]).toEqual([e.constructor.name, kind]);
      // The same error re-created from name + message (as the server's worker sends it) maps the same way.
      expect([e.name, E.errorKind({ name: e.name, message: e.message })]).toEqual([e.name, kind]);
    }
  });

  it('messages keep their documented form', () => {
    expect(new E.ConfigError('bad', '/m/config.json').message).toBe('/m/config.json: bad');
    expect(new E.SafetensorsError('short', 'f', 't').message).toBe('f [t]: short');
    expect(new E.ImageDecodeError('a.png', 'truncated').message).toBe('image a.png: truncated');
  });

  it('built-ins and strangers', () => {
    expect(E.errorKind(new RangeError('x'))).toBe('invalid_input');
    expect(E.errorKind(new DOMException('aborted', 'AbortError'))).toBe('cancelled');
    expect(E.errorKind(new TypeError('x'))).toBe('internal');
    expect(E.errorKind(null)).toBe('internal');
    expect(E.errorKind('boom')).toBe('internal');
    expect([E.HTTP_STATUS.invalid_input, E.HTTP_STATUS.cancelled, E.HTTP_STATUS.bad_checkpoint, E.HTTP_STATUS.internal]).toEqual([400, 499, 500, 500]);
  });
});
