/**
 * Progress on stderr: a redrawn bar when stderr is a TTY, otherwise one line every few
 * seconds (CI logs stay readable). Drivers only store counts; a timer renders them.
 */
import { now } from './lib.ts';

const WIDTH = 28;
const LINE_EVERY_MS = 5_000;

export class Progress {
  private label = '';
  private done = 0;
  private total = 0;
  private started = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastLine = 0;
  private readonly tty = process.stderr.isTTY === true;

  /** The callback drivers call with (done, total); cheap enough to call per message. */
  readonly update = (done: number, total: number): void => {
    this.done = done;
    this.total = total;
  };

  begin(label: string): void {
    this.end();
    this.label = label;
    this.done = 0;
    this.total = 0;
    this.started = now();
    this.lastLine = this.started;
    this.timer = setInterval(() => this.render(false), this.tty ? 200 : 1_000);
    this.timer.unref();
    if (!this.tty) process.stderr.write(`[bench] ${label} …\n`);
  }

  /** Stops the bar and prints the outcome line. */
  end(summary?: string): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty) process.stderr.write('\r\x1b[2K');
    if (summary !== undefined) process.stderr.write(`[bench] ${this.label}: ${summary}\n`);
  }

  /** A line that must not be overwritten by the bar. */
  note(text: string): void {
    if (this.tty && this.timer !== undefined) process.stderr.write('\r\x1b[2K');
    process.stderr.write(`[bench] ${text}\n`);
  }

  private render(force: boolean): void {
    const t = now();
    const secs = (t - this.started) / 1000;
    const frac = this.total > 0 ? Math.min(1, this.done / this.total) : 0;
    const rate = secs > 0 ? Math.round(this.done / secs) : 0;
    const counts = this.total > 0 ? `${this.done.toLocaleString('en-US')}/${this.total.toLocaleString('en-US')}` : '';
    if (this.tty) {
      const filled = Math.round(frac * WIDTH);
      const bar = '#'.repeat(filled) + '-'.repeat(WIDTH - filled);
      process.stderr.write(`\r\x1b[2K[${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${this.label} ${counts} ${rate.toLocaleString('en-US')}/s ${secs.toFixed(1)}s`);
    } else if (force || t - this.lastLine >= LINE_EVERY_MS) {
      this.lastLine = t;
      process.stderr.write(`[bench] ${this.label}: ${counts} (${(frac * 100).toFixed(0)}%) ${rate.toLocaleString('en-US')}/s after ${secs.toFixed(0)} s\n`);
    }
  }
}
