// Stand-in for 'vitest' inside the browser bundle: opCases.ts imports the test API, the page only uses its case list.
const none = (): void => {};
export const describe = none;
export const it = none;
export const beforeAll = none;
export const afterAll = none;
export const expect = (): never => {
  throw new Error('expect() is not available in the browser bundle');
};
