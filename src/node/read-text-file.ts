/** Reading a text input file, with the errors every reader gives (unreadable, binary). */
import { readFileSync } from 'node:fs';
import { InputError } from '../diagnostics.js';

/** The file's text; `expected` says what it should be, for the binary-file error. */
export function readTextFile(file: string, expected: string): string {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new InputError({ code: 'input-unreadable', message: `cannot read ${file}: ${why}` });
  }
  if (bytes.includes(0))
    throw new InputError({ code: 'input-binary', message: `${file} is binary; ${expected}` });
  return new TextDecoder('utf-8').decode(bytes);
}
