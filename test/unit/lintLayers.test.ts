// The layering lint (lint/layers.js through eslint.config.js) rejects an import that points up the chain, and the
// size guard rejects a long file: ESLint's API on snippets placed at paths in src/.
import { ESLint } from 'eslint';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const eslint = new ESLint({ cwd: root });

async function messages(code: string, file: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath: path.join(root, file) });
  return r.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

describe('lint: imports point down', () => {
  it('rejects models importing generate, a leaf importing a stack layer, and src importing tests', async () => {
    const up = await messages("import { chat } from '../../generate/chat.js';\nexport const x = chat;\n", 'src/models/qwen3vl/probe.ts');
    expect(up).toHaveLength(1);
    expect(up[0]).toMatch(/^layers\/imports-point-down: src\/models may not import src\/generate/);
    const leaf = await messages("import type { Backend } from '../backend/backend.js';\nexport type X = Backend;\n", 'src/tokenizer/probe.ts');
    expect(leaf[0]).toMatch(/^layers\/imports-point-down: src\/tokenizer may not import src\/backend/);
    const back = await messages("export { InvalidInputError } from '../processor/index.js';\n", 'src/chat/probe.ts');
    expect(back[0]).toMatch(/src\/chat may not import src\/processor/);
    const dyn = await messages("export const m = () => import('../server/app.js');\n", 'src/generate/probe.ts');
    expect(dyn[0]).toMatch(/src\/generate may not import src\/server/);
    const out = await messages("export { projectRoot } from '../../test/helpers/fixtures.js';\n", 'src/io/probe.ts');
    expect(out[0]).toMatch(/src\/ may not import outside src\//);
  });

  it('accepts the downward arrows and leaves', async () => {
    const code = [
      "import { chat } from '../generate/chat.js';",
      "import { loadConfig } from '../models/qwen3vl/config.js';",
      "import { InvalidInputError } from '../errors.js';",
      "import { loadProcessor } from '../processor/index.js';",
      'export const all = [chat, loadConfig, InvalidInputError, loadProcessor];',
      '',
    ].join('\n');
    expect(await messages(code, 'src/cli/probe.ts')).toEqual([]);
    // The CLI reaches the server only to serve.
    const serveOnly = "import { ChatServer } from '../server/app.js';\nexport const s = ChatServer;\n";
    expect(await messages(serveOnly, 'src/cli/serve.ts')).toEqual([]);
    expect((await messages(serveOnly, 'src/cli/run.ts'))[0]).toMatch(/src\/cli\/run.ts may not import src\/server .*only cli\/serve.ts/);
    expect(await messages("import { InvalidInputError } from '../errors.js';\nexport const e = InvalidInputError;\n", 'src/chat/probe.ts')).toEqual([]);
  });

  it('names a new top-level folder that has no place yet', async () => {
    const m = await messages("import { chat } from '../generate/chat.js';\nexport const x = chat;\n", 'src/newthing/probe.ts');
    expect(m[0]).toMatch(/'newthing' has no place in lint\/layers.js/);
  });
});

describe('lint: file size', () => {
  it('rejects a file over 500 lines', async () => {
    const long = Array.from({ length: 501 }, (_, i) => `export const v${i} = ${i};`).join('\n') + '\n';
    expect((await messages(long, 'src/tensor/probe.ts')).some((m) => m.startsWith('max-lines:'))).toBe(true);
    expect(await messages(long.split('\n').slice(300).join('\n'), 'src/tensor/probe.ts')).toEqual([]);
  });
});
