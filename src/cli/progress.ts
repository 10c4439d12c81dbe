// Progress on stderr for loading and long prefills: bars on a terminal, nothing when stderr is piped (so scripts and
// logs stay clean), and short status notes either way unless quiet.

import cliProgress from 'cli-progress';

/** Prefills shorter than this finish before a bar would be useful. */
const PREFILL_BAR_MIN_TOKENS = 512;

export class Progress {
  private bar: cliProgress.SingleBar | null = null;
  private kind: 'load' | 'prefill' | 'steps' | 'download' | null = null;

  constructor(
    private readonly tty: boolean = process.stderr.isTTY === true,
    private readonly quiet = false,
  ) {}

  /** A one-line status message (e.g. "building the demo checkpoint"). */
  note(line: string): void {
    if (this.quiet) return;
    this.done();
    process.stderr.write(`${line}\n`);
  }

  load(loadedBytes: number, totalBytes: number): void {
    // Tensors read for several slots (a fused qkv split three ways) count more than once: clamp to the file size.
    const total = Math.max(1, Math.round(totalBytes / 1e6));
    this.show('load', 'loading  {bar} {percentage}% | {value}/{total} MB', Math.min(total, Math.round(loadedBytes / 1e6)), total);
  }

  /** A Hub download: all missing files together, in MB. */
  download(file: string, loadedBytes: number, totalBytes: number): void {
    const total = Math.max(1, Math.round(totalBytes / 1e6));
    this.show('download', 'download {bar} {percentage}% | {value}/{total} MB', Math.min(total, Math.round(loadedBytes / 1e6)), total);
  }

  /** A counted job (e.g. tensors written by `quantize`). */
  steps(label: string, done: number, total: number): void {
    this.show('steps', `${label.padEnd(8)} {bar} {percentage}% | {value}/{total}`, done, total);
  }

  prefill(done: number, total: number): void {
    if (total < PREFILL_BAR_MIN_TOKENS) return;
    this.show('prefill', 'prompt   {bar} {percentage}% | {value}/{total} tokens', done, total);
    if (done >= total) this.done();
  }

  /** Clear any bar (before printing answer text). */
  done(): void {
    if (!this.bar) return;
    this.bar.stop();
    this.bar = null;
    this.kind = null;
  }

  private show(kind: 'load' | 'prefill' | 'steps' | 'download', format: string, value: number, total: number): void {
    if (!this.tty || this.quiet) return;
    if (this.kind !== kind) {
      this.done();
      this.bar = new cliProgress.SingleBar({ format, stream: process.stderr, clearOnComplete: true, hideCursor: true }, cliProgress.Presets.shades_classic);
      this.bar.start(total, 0);
      this.kind = kind;
    }
    this.bar!.setTotal(total);
    this.bar!.update(value);
  }
}
