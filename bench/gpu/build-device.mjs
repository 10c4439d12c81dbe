// Stage what the GPU machine needs (it has Node from the device kit, no npm): bundles of the bench, the probe and
// the GPU test tiers (vite, with mini-vitest for vitest), the WGSL, the `webgpu` package with only its linux-x64
// dawn.node (xz), the model fixtures (xz) and run.sh. Usage: node bench/gpu/build-device.mjs <stage dir>
import { build } from 'vite';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import process from 'node:process';
import console from 'node:console';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const stage = resolve(process.argv[2] ?? join(root, '../main/.stage-webgpu'));
// The vendored fixtures (test/fixtures), unpacked by vite-node, unless QWEN3VL_FIXTURES names another qwen3-vl root.
const fixtures = resolve(
  process.env.QWEN3VL_FIXTURES ??
    join(execFileSync(process.execPath, [join(root, 'node_modules/vite-node/vite-node.mjs'), join(root, 'test/fixtures/unpack.ts')], { encoding: 'utf8' }).trim().split('\n').pop(), 'qwen3-vl'),
);
rmSync(join(stage, 'js'), { recursive: true, force: true });
mkdirSync(join(stage, 'js'), { recursive: true });

await build({
  configFile: false,
  logLevel: 'warn',
  resolve: { alias: { vitest: join(root, 'bench/gpu/mini-vitest.ts') } },
  ssr: { noExternal: true, external: ['webgpu'] },
  build: {
    ssr: true,
    outDir: join(stage, 'js'),
    emptyOutDir: true,
    minify: false,
    target: 'node20',
    rollupOptions: {
      input: {
        bench: join(root, 'bench/gpu/bench.ts'),
        probe: join(root, 'bench/gpu/probe.ts'),
        'run-tests': join(root, 'bench/gpu/run-tests.ts'),
        'fast-error': join(root, 'bench/gpu/fastError.ts'),
      },
      output: { format: 'es', entryFileNames: '[name].mjs', chunkFileNames: '[name]-[hash].mjs' },
    },
  },
});
// The disk loader looks for ./shaders/ beside the module that holds it.
mkdirSync(join(stage, 'js/shaders'), { recursive: true });
const wgslDir = join(root, 'src/backend/webgpu/shaders');
for (const f of readdirSync(wgslDir)) copyFileSync(join(wgslDir, f), join(stage, 'js/shaders', f));

const pkg = join(stage, 'js/node_modules/webgpu');
mkdirSync(join(pkg, 'dist/linux-x64'), { recursive: true });
for (const f of ['index.js', 'package.json']) copyFileSync(join(root, 'node_modules/webgpu', f), join(pkg, f));
const dawnXz = join(stage, 'dawn.node.xz');
if (!existsSync(dawnXz)) execFileSync('sh', ['-c', `xz -T4 -6 -c '${join(root, 'node_modules/webgpu/dist/linux-x64/dawn.node')}' > '${dawnXz}'`]);

// Fixtures for the parity suite: every case folder with a config (xz, each under the transfer limits).
const fx = join(stage, 'fixtures.tar.xz');
if (!existsSync(fx) && existsSync(fixtures)) {
  const cases = readdirSync(fixtures).filter((d) => existsSync(join(fixtures, d, 'config.json')));
  const files = cases.flatMap((d) =>
    ['config.json', 'generation_config.json', 'golden.json', 'golden.safetensors', 'model.safetensors', 'preprocessor_config.json']
      .filter((f) => existsSync(join(fixtures, d, f)))
      .map((f) => `${d}/${f}`),
  );
  execFileSync('sh', ['-c', `tar -C '${fixtures}' -cf - ${files.join(' ')} | xz -T8 -6 > '${fx}'`]);
}

copyFileSync(join(root, 'bench/gpu/device-run.sh'), join(stage, 'device-run.sh'));
writeFileSync(
  join(stage, 'run.sh'),
  `# Sourced on the GPU machine after .device-kit/enter.sh: unpack dawn.node and fixtures, then run what is asked.
here=$(cd "$(dirname "\${BASH_SOURCE[0]}")" && pwd)
xz -dc "$here/dawn.node.xz" > "$here/js/node_modules/webgpu/dist/linux-x64/dawn.node"
mkdir -p /tmp/fixtures && [ -f "$here/fixtures.tar.xz" ] && xz -dc "$here/fixtures.tar.xz" | tar -C /tmp/fixtures -xf -
export QWEN3VL_FIXTURES=/tmp/fixtures
`,
);
console.log(`staged in ${stage}:`);
execFileSync('sh', ['-c', `du -sh '${stage}'/* '${stage}'`], { stdio: 'inherit' });
