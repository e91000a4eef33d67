/**
 * Writes schema/scenario.schema.json, the JSON Schema of the scenario format, from the zod
 * schemas in src/scenario/schema.ts (formatted by Prettier, as the repository's JSON is).
 * Run: npx tsx scripts/gen-scenario-schema.ts (add --check to fail instead of writing when stale).
 */
import { join, resolve } from 'node:path';
import { format, resolveConfig } from 'prettier';
import { writeGenerated } from './generated-file.js';
import { scenarioJsonSchema } from '../src/scenario/schema.js';

export const schemaPath = join(resolve(import.meta.dirname, '..'), 'schema', 'scenario.schema.json');

/** The file's text: the schema as JSON, formatted with the repository's Prettier settings. */
export async function scenarioSchemaText(): Promise<string> {
  const config = (await resolveConfig(schemaPath)) ?? {};
  return format(JSON.stringify(scenarioJsonSchema(), null, 2), { ...config, parser: 'json' });
}

if (process.argv[1]?.endsWith('gen-scenario-schema.ts') === true) {
  const text = await scenarioSchemaText();
  writeGenerated('schema/scenario.schema.json', text, 'gen-scenario-schema.ts');
}
