import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

/** The complete scenarios in a doc: every ```yaml block whose first line is not `# fragment`. */
export function docScenarios(doc: string): { line: number; text: string }[] {
  const lines = readFileSync(join(repoRoot, doc), 'utf8').split('\n');
  const out: { line: number; text: string }[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```yaml\s*$/.test(lines[i]!)) continue;
    const start = i + 1;
    let j = start;
    while (j < lines.length && !/^```/.test(lines[j]!)) j++;
    const body = lines.slice(start, j);
    if (body[0]?.trim() !== '# fragment') out.push({ line: start + 1, text: body.join('\n') + '\n' });
    i = j;
  }
  return out;
}
