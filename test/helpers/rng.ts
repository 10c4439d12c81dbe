// Seeded inputs for tests: the engine's own generator, so values are reproducible across backends.
export { mulberry32 as rng } from '../../src/generate/rng.js';
