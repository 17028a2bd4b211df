// Configuration errors: every problem found, each naming where it came from and the key path
// the operator has to change.

export interface ConfigProblem {
  /** The YAML file (as given by the caller), or null when the value did not come from a file. */
  file: string | null;
  /** Where the value is, as the operator writes it: "bootstrap.dcs.ttl", "etcd.hosts[0]"; "" for the whole file. */
  keyPath: string;
  message: string;
  /** The allowed values or the rule, when it helps to list them. */
  allowed?: string;
  /** 1-based line in `file`, when known. */
  line?: number;
  /** Set when the value came from somewhere other than the file: "env PGWARDEN_POSTGRESQL_PORT", "override". */
  origin?: string;
}

export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    if (problems.length === 0) throw new Error('ConfigError needs at least one problem');
    super(formatProblems(problems));
    this.name = 'ConfigError';
    this.problems = problems;
  }

  /** The first problem's file (the common single-problem case). */
  get file(): string | null {
    return this.problems[0]!.file;
  }

  /** The first problem's key path. */
  get keyPath(): string {
    return this.problems[0]!.keyPath;
  }

  /** One line per problem: `pgwarden.yml: bootstrap.dcs.loop_wait: must be … (got "fast")`. */
  format(): string {
    return formatProblems(this.problems);
  }
}

export function formatProblem(p: ConfigProblem): string {
  const where = p.origin ?? p.file ?? 'config';
  const head = p.keyPath ? `${where}: ${p.keyPath}: ` : `${where}: `;
  const allowed = p.allowed ? ` (allowed: ${p.allowed})` : '';
  const line = p.line !== undefined && p.origin === undefined && p.keyPath ? ` [line ${p.line}]` : '';
  return `${head}${p.message}${allowed}${line}`;
}

export function formatProblems(problems: readonly ConfigProblem[]): string {
  return problems.map(formatProblem).join('\n');
}

/** A short, safe rendering of an offending value for "(got …)". */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') {
    const s = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(s);
  }
  return String(value);
}

/** Keys whose values are secrets: never echoed in errors, redacted in output. */
export function isSecretKey(key: string): boolean {
  return /(^|_)(password|token|secret|passphrase)$/i.test(key);
}
