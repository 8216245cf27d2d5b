/** A progress bar on stderr for long runs (only on a terminal), and the final rate always. */
export class Progress {
  readonly #label: string;
  readonly #total: number;
  readonly #start = performance.now();
  readonly #tty = process.stderr.isTTY === true;
  #count = 0;
  #lastDraw = 0;

  constructor(label: string, total: number) {
    this.#label = label;
    this.#total = total;
  }

  tick(): void {
    this.#count++;
    if (!this.#tty || this.#total < 1000) return;
    const now = performance.now();
    if (now - this.#lastDraw < 100 && this.#count < this.#total) return;
    this.#lastDraw = now;
    const width = 30;
    const filled = Math.round((this.#count / this.#total) * width);
    const rate = this.#count / ((now - this.#start) / 1000);
    process.stderr.write(
      `\r[${'='.repeat(filled)}${' '.repeat(width - filled)}] ${this.#count}/${this.#total} ${Math.round(rate).toLocaleString('en-US')} msg/s`,
    );
  }

  /** Prints the final count and rate. */
  done(): void {
    const seconds = (performance.now() - this.#start) / 1000;
    if (this.#tty && this.#total >= 1000) process.stderr.write('\n');
    const rate = seconds > 0 ? Math.round(this.#count / seconds).toLocaleString('en-US') : '-';
    console.error(
      `${this.#label} ${this.#count} message${this.#count === 1 ? '' : 's'} in ${seconds.toFixed(2)} s (${rate} msg/s)`,
    );
  }
}
