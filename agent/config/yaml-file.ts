// Reads pgwarden.yml. Syntax errors become ConfigErrors with the file and line; the returned
// lineOf() lets later validation errors point at the line of the offending key.
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError, type ConfigProblem } from './errors.js';
import { isPlainObject, type PathSegment } from './paths.js';

export interface YamlFile {
  value: Record<string, unknown>;
  lineOf(path: readonly PathSegment[]): number | undefined;
}

export function readYamlFile(file: string): YamlFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new ConfigError([{ file, keyPath: '', message: `cannot read the config file (${code})` }]);
  }
  return parseYamlText(text, file);
}

export function parseYamlText(text: string, file: string): YamlFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e): ConfigProblem => {
        const first = e.message.split('\n')[0]!.replace(/:$/, '');
        const line = e.linePos?.[0].line;
        return { file, keyPath: '', message: `YAML syntax error: ${first}`, ...(line !== undefined ? { line } : {}) };
      }),
    );
  }
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (err) {
    // e.g. an alias to an undefined anchor
    throw new ConfigError([{ file, keyPath: '', message: `YAML error: ${(err as Error).message}` }]);
  }
  if (value === null || value === undefined) value = {};
  if (!isPlainObject(value)) {
    throw new ConfigError([{ file, keyPath: '', message: 'the top level must be a mapping of keys (name:, scope:, etcd:, …)' }]);
  }
  const root = value;
  return {
    value: root,
    lineOf(path) {
      const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
      return node?.range ? lineCounter.linePos(node.range[0]).line : undefined;
    },
  };
}
