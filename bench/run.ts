/**
 * `npm run bench`: every benchmark, one run, figures printed as a table (and as JSON with --json).
 * Speed is measured here, never in timed tests.
 */
import { inspectBench } from './inspect.bench.js';

const json = process.argv.includes('--json');
const results: Record<string, unknown> = {};
results.inspect = await inspectBench((line) => process.stderr.write(line + '\n'));
if (json) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
