/** The progress atsim explore shows: a bar on a terminal, a line otherwise (src/cli/commands/explore.ts). */
import { describe, expect, it } from 'vitest';
import { progressBar, progressLine } from '../../../src/cli/commands/explore.js';

const p = {
  states: 12345,
  transitions: 40000,
  statesPerSecond: 2468.4,
  depth: 7,
  queue: 2345,
  elapsedMs: 5000,
};

describe('progress', () => {
  it('a line: states, states/s, depth, queue and time', () => {
    expect(progressLine(p)).toBe('12,345 states, 2,468 states/s, depth 7, queue 2,345, 5.0 s');
  });

  it('a bar towards the nearest limit, else the share of stored states expanded', () => {
    // 10,000 of 12,345 stored states expanded: 81%.
    expect(progressBar(p)).toBe(`${'█'.repeat(19)}${'░'.repeat(5)}  81% expanded | ${progressLine(p)}`);
    expect(progressBar(p, { maxStates: 49380 })).toMatch(/^█{6}░{18} {2}25% of --max-states \| /);
    // The time limit is nearer (50%) than the state limit (25%).
    expect(progressBar(p, { maxStates: 49380, timeLimitMs: 10000 })).toMatch(
      /^█{12}░{12} {2}50% of --time-limit/,
    );
    expect(progressBar({ ...p, elapsedMs: 20000 }, { timeLimitMs: 10000 })).toMatch(
      /^█{24} 100% of --time-limit/,
    );
    expect(progressBar({ ...p, states: 0, queue: 0 })).toMatch(/^░{24} {3}0% expanded/);
  });
});
