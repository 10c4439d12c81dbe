// What the GPU offers through Dawn: adapter info, features and limits, without and with the Dawn toggle
// allow_unsafe_apis (experimental features such as subgroup matrices only show with it). Prints JSON.
const spec = 'webgpu';
const { create } = (await import(/* @vite-ignore */ spec)) as { create(o: string[]): GPU };
const keep: GPU[] = []; // Dawn tears an instance down when its GPU object is collected

async function describeAdapter(flags: string[]) {
  const gpu = create(flags);
  keep.push(gpu);
  const a = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!a) return { flags, adapter: null };
  const lim: Record<string, number> = {};
  for (const k in a.limits) lim[k] = (a.limits as unknown as Record<string, number>)[k];
  const info: Record<string, unknown> = {};
  const ai = a.info as unknown as Record<string, unknown>;
  for (const k of ['vendor', 'architecture', 'device', 'description', 'subgroupMinSize', 'subgroupMaxSize', 'isFallbackAdapter']) info[k] = ai[k];
  // Native objects: read the documented fields one by one.
  const mats = (ai.subgroupMatrixConfigs ?? []) as Record<string, unknown>[];
  info.subgroupMatrixConfigs = [...mats].map((m) => ({ componentType: m.componentType, resultComponentType: m.resultComponentType, M: m.M, N: m.N, K: m.K }));
  const features = [...a.features].sort();
  let f16Device = false;
  if (a.features.has('shader-f16')) {
    const d = await a.requestDevice({ requiredFeatures: ['shader-f16'] });
    f16Device = d.features.has('shader-f16');
    d.destroy();
  }
  return { flags, info, features, limits: lim, f16Device };
}

const out = [];
for (const flags of [[], ['enable-dawn-features=allow_unsafe_apis'], ['enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia']]) {
  try {
    out.push(await describeAdapter(flags));
  } catch (e) {
    out.push({ flags, error: (e as Error).message });
  }
}
console.log(JSON.stringify(out, null, 1));
process.exit(0);
