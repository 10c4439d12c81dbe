// Generate a random-weight checkpoint from the sources: npx vite-node bench/gen.ts -- OUT --shape 2B [--layers N]
import { genCheckpointMain } from '../src/tools/genCheckpoint.js';

await genCheckpointMain(process.argv.slice(2));
