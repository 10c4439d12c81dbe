// Video files in browsers: MP4 demuxed by mp4box, frames decoded by the browser's own decoders (WebCodecs
// VideoDecoder) and drawn to RGB on an OffscreenCanvas. Frame indices are in presentation order, as ffmpeg counts
// them in Node, so the processor samples the same frames.

import { createFile, DataStream, Endianness, MP4BoxBuffer, type Sample } from 'mp4box';
import { VideoDecodeError } from '../errors.js';

export interface WebVideo {
  readonly width: number;
  readonly height: number;
  readonly totalFrames: number;
  readonly fps: number;
  readonly codec: string;
  /** Decode all frames up to the last wanted one; `onFrame(i, rgb)` for each wanted frame index i (RGB, width×height×3). */
  decode(wanted: readonly number[], onFrame: (k: number, rgb: Uint8Array) => void, signal?: AbortSignal): Promise<void>;
}

/** Demux an MP4 (or MOV) Blob: its first video track's size, frame count and rate, and a decoder for it. */
export async function openWebVideo(blob: Blob, name: string): Promise<WebVideo> {
  if (typeof VideoDecoder === 'undefined') throw new VideoDecodeError(name, 'this browser has no WebCodecs VideoDecoder (it needs a secure context: https or localhost); pass the video as a list of frames instead');
  const file = createFile();
  let error: unknown = null;
  file.onError = (_module: string, message: string) => (error = message);
  const samples: Sample[] = [];
  let trackId = -1;
  file.onReady = (info) => {
    const t = info.videoTracks[0];
    if (!t) return;
    trackId = t.id;
    file.setExtractionOptions(t.id, null, { nbSamples: Infinity });
    file.start();
  };
  file.onSamples = (_id, _user, s) => void samples.push(...s);
  // Fed in pieces: the demuxer copies what it keeps (the samples), so the whole file is never in memory twice.
  const PIECE = 8 << 20;
  for (let off = 0; off < blob.size; off += PIECE) {
    const ab = await blob.slice(off, off + PIECE).arrayBuffer();
    try {
      file.appendBuffer(MP4BoxBuffer.fromArrayBuffer(ab, off), off + PIECE >= blob.size);
    } catch (e) {
      error = e;
    }
    if (error) break;
  }
  file.flush();
  const info = file.getInfo();
  if (error || !info?.hasMoov) throw new VideoDecodeError(name, `not a readable MP4/MOV file${error ? ` (${String((error as Error).message ?? error)})` : ''}; browsers decode MP4 (H.264, VP9, AV1) here, other containers as frame lists`);
  const track = info.videoTracks.find((t) => t.id === trackId);
  if (!track?.video) throw new VideoDecodeError(name, 'the file has no video track');
  if (samples.length !== track.nb_samples || !samples.length) throw new VideoDecodeError(name, `${samples.length} of ${track.nb_samples} video samples could be read (truncated file?)`);
  const config: VideoDecoderConfig = { codec: track.codec, codedWidth: track.video.width, codedHeight: track.video.height, description: codecDescription(file, trackId) };
  const support = await VideoDecoder.isConfigSupported(config).catch(() => ({ supported: false }));
  if (!support.supported) throw new VideoDecodeError(name, `this browser cannot decode ${track.codec} video`);
  const seconds = track.samples_duration / track.timescale;
  const fps = seconds > 0 ? track.nb_samples / seconds : NaN;
  if (!(fps > 0)) throw new VideoDecodeError(name, 'the video track has no duration');
  // Presentation order: a frame's index is its rank by composition time.
  const byCts = samples.map((s) => s.cts).sort((a, b) => a - b);
  const rank = new Map(byCts.map((c, i) => [Math.round((c * 1e6) / track.timescale), i]));
  const [width, height] = [track.video.width, track.video.height];

  return {
    width,
    height,
    totalFrames: samples.length,
    fps,
    codec: track.codec,
    async decode(wanted, onFrame, signal) {
      const want = new Set(wanted);
      const last = Math.max(...wanted);
      const canvas = new OffscreenCanvas(width, height);
      const ctx = canvas.getContext('2d', { willReadFrequently: true });
      if (!ctx) throw new VideoDecodeError(name, 'no 2D canvas to read frames with');
      let failure: unknown = null;
      let got = 0;
      const decoder = new VideoDecoder({
        output: (frame) => {
          try {
            const i = rank.get(frame.timestamp);
            if (i !== undefined && want.has(i)) {
              ctx.drawImage(frame, 0, 0, width, height);
              const rgba = ctx.getImageData(0, 0, width, height).data;
              const rgb = new Uint8Array(width * height * 3);
              for (let p = 0, q = 0; q < rgb.length; p += 4, q += 3) [rgb[q], rgb[q + 1], rgb[q + 2]] = [rgba[p], rgba[p + 1], rgba[p + 2]];
              onFrame(i, rgb);
              got++;
            }
          } catch (e) {
            failure ??= e;
          } finally {
            frame.close();
          }
        },
        error: (e) => (failure ??= e),
      });
      try {
        decoder.configure(config);
        // Decode order up to the last sample any wanted frame depends on: frames are displayed by composition time.
        const lastCts = byCts[last];
        const end = samples.reduce((m, s, j) => (s.cts <= lastCts ? j : m), 0);
        for (let j = 0; j <= end; j++) {
          signal?.throwIfAborted();
          if (failure) break;
          const s = samples[j];
          decoder.decode(new EncodedVideoChunk({ type: s.is_sync ? 'key' : 'delta', timestamp: Math.round((s.cts * 1e6) / track.timescale), duration: Math.round((s.duration * 1e6) / track.timescale), data: s.data! }));
          if (decoder.decodeQueueSize > 8) await new Promise((ok) => decoder.addEventListener('dequeue', ok, { once: true }));
        }
        if (!failure) await decoder.flush();
      } catch (e) {
        failure ??= e;
      } finally {
        if (decoder.state !== 'closed') decoder.close();
      }
      if (failure) {
        if ((failure as Error).name === 'AbortError') throw failure;
        throw new VideoDecodeError(name, `the browser's ${track.codec} decoder failed: ${(failure as Error).message ?? String(failure)}`);
      }
      if (got !== want.size) throw new VideoDecodeError(name, `decoded ${got} of the ${want.size} wanted frames`);
    },
  };
}

/** The decoder configuration record (avcC, hvcC, vpcC, av1C) without its box header, as WebCodecs wants it. */
function codecDescription(file: ReturnType<typeof createFile>, trackId: number): Uint8Array | undefined {
  const trak = file.getTrackById(trackId);
  for (const entry of trak.mdia.minf.stbl.stsd.entries as unknown as Record<string, { write(s: DataStream): void } | undefined>[]) {
    const box = entry.avcC ?? entry.hvcC;
    if (box) {
      const stream = new DataStream(undefined, 0, Endianness.BIG_ENDIAN);
      box.write(stream);
      return new Uint8Array(stream.buffer, 8);
    }
  }
  return undefined;
}
