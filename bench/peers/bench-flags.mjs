// The command-line flags every benchmark takes: `--name` or `--name=value`, and quick mode
// (--quick, QUICK=1 or BENCH_QUICK=1).

/** @returns {{ flags: Map<string, string | true>, quick: boolean }} */
export function benchFlags(argv = process.argv.slice(2)) {
  const flags = new Map(
    argv
      .filter((a) => a.startsWith('--'))
      .map((a) => {
        const [k, v] = a.slice(2).split('=');
        return [k, v ?? true];
      }),
  );
  const quick = flags.has('quick') || process.env.QUICK === '1' || process.env.BENCH_QUICK === '1';
  return { flags, quick };
}
