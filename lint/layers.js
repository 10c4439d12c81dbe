// ESLint rule `layers/imports-point-down`: the import graph of src/ as the README's Layout section draws it.
// Stack: cli → server | web → tools → generate → models → nn | weights → backend → tensor (each imports only lower).
// Leaves: errors → io → config → tokenizer → chat → processor (each imports only earlier leaves, and tensor);
// every stack layer may import any leaf (tensor only errors). Tests and benches may import anything; src/ never imports them.

import path from 'node:path';

/** Rank in the stack; a file imports only strictly lower ranks (or its own folder). */
export const STACK = { tensor: 0, backend: 1, nn: 2, weights: 2, models: 3, generate: 4, tools: 5, server: 6, web: 6, cli: 7, index: 8 };
/** Leaves in order: each may import the ones before it, and tensor. */
export const LEAVES = ['errors', 'io', 'config', 'tokenizer', 'chat', 'processor'];

/** Arrows the stack allows but only from the named files: the CLI reaches the server only to serve. */
export const ONLY_FROM = { 'cli>server': ['cli/serve.ts'] };

/** The layer of a path inside src/ ('index' for src/index.ts), or null outside src/. */
function layerOf(file, srcRoot) {
  const rel = path.relative(srcRoot, file);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return null;
  const parts = rel.split(path.sep);
  return parts.length === 1 ? parts[0].replace(/\.[cm]?[jt]s$/, '') : parts[0];
}

function allowed(from, to) {
  if (from === to) return true;
  if (from === 'tensor') return to === 'errors'; // the bottom: leaves import tensor, so not the reverse
  const leafFrom = LEAVES.indexOf(from);
  const leafTo = LEAVES.indexOf(to);
  if (leafFrom >= 0) return to === 'tensor' ? from !== 'errors' : leafTo >= 0 && leafTo < leafFrom;
  if (leafTo >= 0) return true; // a stack layer may use any leaf
  if (!(from in STACK) || !(to in STACK)) return false; // a new top-level folder must be placed first
  return STACK[to] < STACK[from];
}

const rule = {
  meta: {
    type: 'problem',
    docs: { description: 'imports in src/ only point down the layer chain (README, Layout)' },
    schema: [],
    messages: {
      narrow: "src/{{file}} may not import src/{{to}} ('{{spec}}'): only {{only}} may (lint/layers.js ONLY_FROM)",
      up: "src/{{from}} may not import src/{{to}} ('{{spec}}'): imports point down cli → server | web → tools → generate → models → nn | weights → backend → tensor, and leaves (errors → io → config → tokenizer → chat → processor) import only earlier leaves and tensor",
      unplaced: "src/{{from}} imports src/{{to}} ('{{spec}}'), and '{{unknown}}' has no place in lint/layers.js yet: add it to STACK or LEAVES",
      outside: "src/ may not import outside src/ ('{{spec}}')",
    },
  },
  create(context) {
    const file = context.filename ?? context.getFilename();
    const srcRoot = path.join(context.cwd ?? context.getCwd(), 'src');
    const from = layerOf(file, srcRoot);
    if (from === null) return {};
    const check = (node, spec) => {
      if (typeof spec !== 'string' || !spec.startsWith('.')) return; // packages and node: built-ins
      const target = path.resolve(path.dirname(file), spec);
      const to = layerOf(target, srcRoot);
      if (to === null) return context.report({ node, messageId: 'outside', data: { spec } });
      const only = ONLY_FROM[`${from}>${to}`];
      const rel = path.relative(srcRoot, file).split(path.sep).join('/');
      if (only && !only.includes(rel)) return context.report({ node, messageId: 'narrow', data: { file: rel, to, spec, only: only.join(', ') } });
      if (allowed(from, to)) return;
      const unknown = [from, to].find((l) => !(l in STACK) && !LEAVES.includes(l));
      context.report({ node, messageId: unknown ? 'unplaced' : 'up', data: { from, to, spec, unknown } });
    };
    const fromSource = (node) => node.source && check(node.source, node.source.value);
    return {
      ImportDeclaration: fromSource,
      ExportNamedDeclaration: fromSource,
      ExportAllDeclaration: fromSource,
      ImportExpression: (node) => node.source.type === 'Literal' && check(node.source, node.source.value),
    };
  },
};

export default { rules: { 'imports-point-down': rule } };
