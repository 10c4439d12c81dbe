// Dtype codes are spelled once (src/tensor/dtype.ts DTYPE_CODE); the C++ enum of the CPU addon must agree with it,
// name for name and number for number, or the addon would read one format as another.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DTYPE_CODE } from '../../src/tensor/dtype.js';
import { projectRoot } from '../helpers/fixtures.js';

describe('dtype codes', () => {
  it('native/common.h enum DType matches DTYPE_CODE', () => {
    const header = readFileSync(path.join(projectRoot, 'native', 'common.h'), 'utf8');
    const body = /enum DType : int \{([^}]*)\}/.exec(header)?.[1];
    expect(body, 'enum DType in native/common.h').toBeDefined();
    const native = Object.fromEntries([...body!.matchAll(/DT_(\w+)\s*=\s*(\d+)/g)].map(([, n, v]) => [n.toLowerCase(), Number(v)]));
    expect(native).toEqual({ ...DTYPE_CODE });
    expect(new Set(Object.values(DTYPE_CODE)).size).toBe(Object.keys(DTYPE_CODE).length);
  });
});
