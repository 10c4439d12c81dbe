// `qwen3-vl pull ID` (fetch a Hugging Face checkpoint into the cache shared with Python tools) and `qwen3-vl list`
// (the Qwen3-VL checkpoints in that cache, with sizes and revisions).

import type { Command } from 'commander';
import { HUB_ID, hubCacheDir, listCachedModels } from '../io/hub.js';
import { CliError, pullModel } from './common.js';
import { Progress } from './progress.js';

const gb = (n: number) => `${(n / 1e9).toFixed(n < 1e8 ? 3 : 2)} GB`;

export function registerHub(program: Command): void {
  program
    .command('pull')
    .summary('download a Hugging Face checkpoint into the Hugging Face cache')
    .description('Download what is missing of a Qwen3-VL checkpoint (config, tokenizer, safetensors) into the Hugging Face cache (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub), shared with Python tools. Resumes broken downloads and checks sizes and hashes. HF_TOKEN for gated repositories, HF_ENDPOINT for mirrors.')
    .argument('<id>', 'model id, e.g. Qwen/Qwen3-VL-2B-Instruct')
    .option('--revision <rev>', 'branch, tag or commit', 'main')
    .option('-q, --quiet', 'no progress bar')
    .addHelpText('after', '\nExample:\n  $ qwen3-vl pull Qwen/Qwen3-VL-2B-Instruct\n  $ qwen3-vl run -m Qwen/Qwen3-VL-2B-Instruct -i photo.jpg "Describe it."')
    .action(async (id: string, f: { revision: string; quiet?: boolean }) => {
      if (!HUB_ID.test(id)) throw new CliError(`'${id}' is not a Hugging Face model id (org/name)`);
      const r = await pullModel(id, f.revision, new Progress(undefined, f.quiet === true));
      process.stdout.write(`${r.dir}\n`);
    });
  program
    .command('list')
    .summary('Qwen3-VL checkpoints in the Hugging Face cache')
    .option('--json', 'machine-readable output')
    .action(async (f: { json?: boolean }) => {
      const models = await listCachedModels();
      if (f.json) return void process.stdout.write(`${JSON.stringify(models, null, 2)}\n`);
      if (!models.length) return void process.stdout.write(`no Qwen3-VL checkpoints in ${hubCacheDir()} (qwen3-vl pull Qwen/Qwen3-VL-2B-Instruct fetches one)\n`);
      const rows = models.flatMap((m) => m.revisions.map((r) => [m.id, r.refs.join(',') || '-', r.commit.slice(0, 12), gb(r.sizeBytes)]));
      const head = ['MODEL', 'REFS', 'COMMIT', 'SIZE'];
      const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
      for (const r of [head, ...rows]) process.stdout.write(`${r.map((c, i) => c.padEnd(w[i])).join('  ').trimEnd()}\n`);
      process.stdout.write(`cache: ${hubCacheDir()}\n`);
    });
}
