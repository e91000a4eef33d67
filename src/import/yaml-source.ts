/**
 * A YAML (or JSON) input file (machine descriptions, scenarios) with positions: parse once, then name `file:line:col` for any path
 * into it, and turn zod issues into InputErrors that say where, which field, and what was
 * expected. Pure: text in, data out.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type * as z from 'zod';
import { InputError, type FileLocation } from '../diagnostics.js';

export type PathSeg = string | number | symbol;

export class YamlSource {
  private constructor(
    readonly file: string,
    readonly doc: Document,
    private readonly lc: LineCounter,
    /** The plain data of the document. */
    readonly data: unknown,
  ) {}

  /** Parses `text`; syntax errors (and duplicate keys) are InputErrors with a position. */
  static parse(text: string, file: string, code: string): YamlSource {
    const lc = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, strict: true });
    const err = doc.errors[0];
    if (err !== undefined) {
      const pos = lc.linePos(err.pos[0]);
      throw new InputError({
        code,
        message: `not valid YAML/JSON: ${err.message.split('\n')[0] ?? err.code}`,
        where: { file, line: pos.line, column: pos.col },
      });
    }
    let data: unknown;
    try {
      data = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      throw new InputError({
        code,
        message: `cannot read the document: ${e instanceof Error ? e.message : String(e)}`,
        where: { file, line: 1, column: 1 },
      });
    }
    return new YamlSource(file, doc, lc, data);
  }

  /** The node at `path`, or the deepest node on the way there; `key` asks for a map key's own node. */
  nodeAt(path: readonly PathSeg[], key?: string): Node | null {
    let node: unknown = this.doc.contents;
    let found: Node | null = isNodeLike(node) ? node : null;
    const segs = key === undefined ? path : [...path, key];
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i];
      if (isMap(node)) {
        const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value === seg : p.key === seg));
        if (pair === undefined) break;
        const last = i === segs.length - 1;
        if (last && key !== undefined) return isNodeLike(pair.key) ? pair.key : found;
        if (isNodeLike(pair.value)) {
          node = pair.value;
          found = pair.value;
        } else {
          return isNodeLike(pair.key) ? pair.key : found;
        }
      } else if (isSeq(node) && typeof seg === 'number') {
        const item: unknown = node.items[seg];
        if (!isNodeLike(item)) break;
        node = item;
        found = item;
      } else break;
    }
    return found;
  }

  /** Where the value at `path` starts (or the key `key` of the mapping at `path`). */
  where(path: readonly PathSeg[], key?: string): FileLocation {
    const node = this.nodeAt(path, key);
    const offset = node?.range?.[0] ?? 0;
    const pos = this.lc.linePos(offset);
    return { file: this.file, line: pos.line, column: pos.col };
  }

  /**
   * An InputError at `path`: `<path>: <message>`. With `key`, it points at that key of the mapping
   * at `path`, and names it in the path unless `keyInPath` is false.
   */
  error(
    code: string,
    path: readonly PathSeg[],
    message: string,
    key?: string,
    keyInPath = true,
    describe: (path: readonly PathSeg[]) => string = pathText,
  ): InputError {
    const shown = key === undefined || !keyInPath ? path : [...path, key];
    return new InputError({ code, message: `${describe(shown)}: ${message}`, where: this.where(path, key) });
  }

  /**
   * The first issue of a failed zod parse of the value at `base`, as an InputError. `describe`
   * renders the path in the message (default `steps[3].bind.bdf`).
   */
  zodError(
    code: string,
    base: readonly PathSeg[],
    value: unknown,
    error: z.ZodError,
    describe: (path: readonly PathSeg[]) => string = pathText,
  ): InputError {
    const issue = error.issues[0]!;
    const path = [...base, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      const key = issue.keys[0] ?? '';
      const more = issue.keys.length > 1 ? ` (and ${issue.keys.length - 1} more)` : '';
      return this.error(code, path, `unknown key '${key}'${more}`, key, true, describe);
    }
    let message = issue.message;
    if (issue.path.length > 0 && isMissing(value, issue.path) && issue.code !== 'custom')
      message = `required field is missing (${message})`;
    else if (issue.code !== 'custom') message += gotText(value, issue.path);
    return this.error(code, path, message, undefined, true, describe);
  }
}

function isNodeLike(v: unknown): v is Node {
  return isScalar(v) || isMap(v) || isSeq(v);
}

/** `steps[3].bind.bdf` */
export function pathText(path: readonly PathSeg[]): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else s += s === '' ? String(p) : `.${String(p)}`;
  }
  return s === '' ? '(top level)' : s;
}

/** `, got <value>` for a scalar found at `path` in `data`, else ''. */
export function gotText(data: unknown, path: readonly PathSeg[]): string {
  let v: unknown = data;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return '';
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return describeValue(v);
}

export function describeValue(v: unknown): string {
  if (typeof v === 'string') return `, got '${v.length > 40 ? `${v.slice(0, 40)}...` : v}'`;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return `, got ${String(v)}`;
  if (Array.isArray(v)) return ', got a list';
  return typeof v === 'object' ? ', got a mapping' : '';
}

/** True when the object at `path`'s parent has no such key (a required field is missing). */
function isMissing(data: unknown, path: readonly PathSeg[]): boolean {
  let v: unknown = data;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    if (v === null || typeof v !== 'object') return false;
    if (i === path.length - 1) return !Object.hasOwn(v, seg);
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return false;
}
