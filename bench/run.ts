/**
 * `npm run bench`: every benchmark, one run, one line per figure on stderr (and all results as
 * JSON on stdout with --json). Speed is measured here, never in timed tests.
 * `npm run bench -- inspect kernel-model` runs only the named ones.
 */
import { inspectBench } from './inspect.bench.js';
import { explorerBench } from './explorer.bench.js';
import { kernelModelBench } from './kernel-model.bench.js';
import { kernelExploreBench } from './kernel-explore.bench.js';

const BENCHES: Record<string, (log: (s: string) => void) => Promise<unknown>> = {
  inspect: inspectBench,
  'kernel-model': kernelModelBench,
  'kernel-explore': kernelExploreBench,
  explorer: explorerBench,
};

const args = process.argv.slice(2);
const json = args.includes('--json');
const only = args.filter((a) => !a.startsWith('--'));
for (const name of only) {
  if (!(name in BENCHES)) {
    process.stderr.write(`unknown benchmark '${name}'; known: ${Object.keys(BENCHES).join(', ')}\n`);
    process.exit(2);
  }
}
const log = (line: string): void => {
  process.stderr.write(line + '\n');
};
const results: Record<string, unknown> = {};
for (const [name, run] of Object.entries(BENCHES)) {
  if (only.length > 0 && !only.includes(name)) continue;
  log(`== ${name}`);
  results[name] = await run(log);
}
if (json) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
