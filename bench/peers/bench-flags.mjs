// The command-line flags every benchmark takes: `--name` or `--name=value`, and quick mode
// (--quick, QUICK=1 or BENCH_QUICK=1).

// A flag the benchmark does not know is refused (a misspelt --warmup must not run the default
// silently), except under bench/run.mjs (BENCH_RUN_ALL=1), which passes every flag to every
// benchmark and lets each take the ones it knows.

/**
 * @param {string[]} argv
 * @param {readonly string[]} known  the flags this benchmark takes, besides --quick
 * @returns {{ flags: Map<string, string | true>, quick: boolean }}
 */
export function benchFlags(argv, known) {
  const flags = new Map(
    argv
      .filter((a) => a.startsWith('--'))
      .map((a) => {
        const [k, v] = a.slice(2).split('=');
        return [k, v ?? true];
      }),
  );
  const unknown = [...flags.keys()].filter((k) => k !== 'quick' && !known.includes(k));
  if (unknown.length > 0 && process.env.BENCH_RUN_ALL !== '1') {
    console.error(
      `unknown flag ${unknown.map((k) => `--${k}`).join(', ')}; this benchmark takes --quick${known.map((k) => `, --${k}`).join('')}`,
    );
    process.exit(2);
  }
  const quick = flags.has('quick') || process.env.QUICK === '1' || process.env.BENCH_QUICK === '1';
  return { flags, quick };
}
