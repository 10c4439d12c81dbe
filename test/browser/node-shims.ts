// Browser stand-ins for the Node built-ins that model code imports at module level (file loading is never called
// in the browser tests; models are built from uploaded tensors). NOTES-for-lead.md asks for a browser-safe split.
const unavailable = (): never => {
  throw new Error('not available in the browser');
};
export const readFile = unavailable;
export const open = unavailable;
export const stat = unavailable;
export const readdir = unavailable;
export const existsSync = (): boolean => false;
export const readdirSync = (): string[] => [];
export const readFileSync = unavailable;
export const fileURLToPath = (u: string | URL): string => new URL(u).pathname;
const join = (...p: string[]): string => p.join('/').replace(/\/+/g, '/');
const basename = (p: string): string => p.split('/').pop() ?? p;
const dirname = (p: string): string => p.split('/').slice(0, -1).join('/') || '/';
export default { join, resolve: join, basename, dirname, sep: '/' };
