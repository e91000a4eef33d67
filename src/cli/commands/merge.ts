/** `atsim merge FILES...`: combine the result files of `atsim explore --shard i/n` (docs/explorer.md, "Shards"). */
import { Command, Option, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { InputError } from '../../diagnostics.js';
import { mergeShards, SHARD_FORMAT, type ShardResult } from '../../explore/shard.js';
import { readTextFile } from '../../node/read-text-file.js';
import { EXIT_FINDINGS, EXIT_OK } from '../exit-codes.js';
import type { CliIo } from '../io.js';

export const MERGE_FORMAT = 'atsim-merge';

function readShard(file: string): ShardResult {
  const text = readTextFile(file, 'a shard result is JSON (atsim explore --shard i/n --shard-out FILE)');
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new InputError({
      code: 'shard-invalid',
      message: `${file}: not JSON; expected a shard result file`,
    });
  }
  const d = data as Partial<ShardResult> | null;
  if (d === null || typeof d !== 'object' || d.format !== SHARD_FORMAT || typeof d.result !== 'object')
    throw new InputError({
      code: 'shard-invalid',
      message: `${file}: not a shard result file (format ${SHARD_FORMAT}, written by atsim explore --shard i/n --shard-out FILE)`,
    });
  return data as ShardResult;
}

export function mergeCommand(io: CliIo): CommandUnknownOpts {
  return new Command('merge')
    .description(
      'Combine the result files of atsim explore --shard i/n: states, coverage, violations, completeness.',
    )
    .argument('<files...>', 'shard result files (one per slice)')
    .addOption(
      new Option('--format <format>', 'output format')
        .choices(['text', 'json'] as const)
        .default('text' as const),
    )
    .addHelpText(
      'after',
      `
Exit codes: 0 every slice is present and explored to the end with no violation, 1 a violation or
a slice missing or unfinished, 2 bad input (a file that is not a shard result, slices of different
runs).

Examples:
  atsim merge results/shard-*.json
  atsim merge results/shard-*.json --format json`,
    )
    .action((files, opts) => {
      const shards = files.map(readShard);
      let merged;
      try {
        merged = mergeShards(shards);
      } catch (e) {
        throw new InputError({ code: 'shard-mismatch', message: e instanceof Error ? e.message : String(e) });
      }
      if (opts.format === 'json')
        io.out(JSON.stringify({ format: MERGE_FORMAT, version: 1, ...merged }, null, 2) + '\n');
      else {
        const out = [
          `Model ${merged.model}: ${merged.count} slices (${merged.mode}), ${merged.perShard.length} present${merged.missing.length === 0 ? '' : `, missing ${merged.missing.join(', ')}`}`,
        ];
        for (const p of merged.perShard)
          out.push(
            `  slice ${p.index}: ${p.states} states, ${p.transitions} transitions, ${(p.elapsedMs / 1000).toFixed(2)} s, ${p.stopReason}`,
          );
        out.push(
          `States: ${merged.statesSum} summed over slices${merged.distinctUnion === undefined ? ' (without --fingerprints the union is not counted)' : `, ${merged.distinctUnion} distinct (duplication ${merged.duplication!.toFixed(2)})`}; transitions ${merged.transitionsSum}`,
        );
        out.push(merged.complete ? 'Complete: every slice explored to the end' : 'Not complete');
        if (merged.violations.length === 0) out.push('No violation');
        else {
          out.push(`Violations: ${merged.violations.length}; the shortest of each invariant:`);
          const seen = new Set<string>();
          for (const v of merged.violations) {
            if (seen.has(v.invariant)) continue;
            seen.add(v.invariant);
            out.push(
              `  ${v.invariant}: depth ${v.depth} (${v.trace
                .slice(1)
                .map((t) => t.action)
                .join(', ')})`,
            );
          }
        }
        if (merged.invariantsViolated.length > 0)
          out.push(`Invariants violated in some slice: ${merged.invariantsViolated.join(', ')}`);
        if (merged.neverFired.length > 0) out.push(`Never fired: ${merged.neverFired.join(', ')}`);
        io.out(out.join('\n') + '\n');
      }
      const clean = merged.violations.length === 0 && merged.invariantsViolated.length === 0;
      io.exitCode = clean && merged.complete ? EXIT_OK : EXIT_FINDINGS;
    });
}
