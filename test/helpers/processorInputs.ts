// Our processor's outputs for video/golden.json `full_processor` (frame 0 of the .npy as the image, the 30 frames
// declared at 10 fps as the video) through the tiny-dense checkpoint folder: what the model-side e2e test feeds
// to tiny-dense instead of the reference's own processor outputs.
import path from 'node:path';
import { loadProcessor, type LoadProcessorOptions, type PreparedInputs } from '../../src/processor/index.js';
import { readNpyU8, tinyDenseDir, videoDir } from './processorFixtures.js';

export const FULL_PROCESSOR_QUESTION = 'What happens in this video?';

export async function prepareFullProcessorInputs(opts: LoadProcessorOptions = {}): Promise<PreparedInputs> {
  const a = readNpyU8(path.join(videoDir, 'frames_30x256x256x3.npy'));
  const n = 256 * 256 * 3;
  const frames = Array.from({ length: a.shape[0] }, (_, i) => ({ data: a.data.subarray(i * n, (i + 1) * n), width: 256, height: 256 }));
  const proc = await loadProcessor(tinyDenseDir, opts);
  return proc.prepare(
    [
      {
        role: 'user',
        content: [
          { type: 'image', image: frames[0] },
          { type: 'video', video: { frames, fps: 10 }, sampleFrames: true },
          { type: 'text', text: FULL_PROCESSOR_QUESTION },
        ],
      },
    ],
    { addGenerationPrompt: true },
  );
}
