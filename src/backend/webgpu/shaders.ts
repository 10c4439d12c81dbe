// WGSL sources by name: read from the .wgsl files beside this module in Node (edit-and-rerun, no rebuild), from the
// generated map (shaders.gen.ts, made by gen-shaders.mjs) in browsers or where the files are missing.

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

export async function loadWgsl(): Promise<Record<string, string>> {
  if (isNode) {
    try {
      const fs = 'node:fs/promises';
      const { readdir, readFile } = (await import(/* @vite-ignore */ fs)) as typeof import('node:fs/promises');
      const dir = new URL('./shaders/', import.meta.url);
      const out: Record<string, string> = {};
      for (const f of await readdir(dir)) if (f.endsWith('.wgsl')) out[f.slice(0, -5)] = await readFile(new URL(f, dir), 'utf8');
      if (Object.keys(out).length) return out;
    } catch {
      // fall through to the bundled copy
    }
  }
  return { ...(await import('./shaders.gen.js')).WGSL };
}
