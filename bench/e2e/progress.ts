/**
 * A one-line status while the bench runs: a bar over the phase's seconds and what it has done so far. On a terminal
 * the line is redrawn in place (stderr, ~4 times a second); otherwise a line every 10 s.
 */
export class Progress {
  private timer: NodeJS.Timeout | null = null;
  private readonly tty = Boolean(process.stderr.isTTY);
  private t0 = 0;
  private lastPrint = 0;

  start(label: string, seconds: number, status: () => string): void {
    this.stop();
    this.t0 = Date.now();
    this.lastPrint = this.t0;
    const draw = () => {
      const el = (Date.now() - this.t0) / 1000;
      const width = 24;
      const done = Math.min(width, Math.round((el / seconds) * width));
      const line = `${label.padEnd(14)} [${'#'.repeat(done)}${'-'.repeat(width - done)}] ${el.toFixed(0).padStart(3)}/${seconds} s  ${status()}`;
      if (this.tty) process.stderr.write(`\r\x1b[K${line}`);
      else if (Date.now() - this.lastPrint >= 10_000) {
        this.lastPrint = Date.now();
        process.stderr.write(`${line}\n`);
      }
    };
    this.timer = setInterval(draw, 250);
    this.timer.unref();
  }

  stop(final?: string): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.tty) process.stderr.write('\r\x1b[K');
    if (final) process.stderr.write(`${final}\n`);
  }
}
