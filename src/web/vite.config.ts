// The demo page's build: the engine worker is an ES module (it loads parts of the library on demand).
import { defineConfig } from 'vite';

export default defineConfig({ worker: { format: 'es' } });
