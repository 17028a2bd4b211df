// The guard program for tests: main.ts and the two files it loads, compiled into a temp dir by
// tsc (the unit suite runs from sources; the daemon runs dist/agent/guard/main.js).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

let built: string | null = null;

export function guardProgramForTests(): string {
  if (built) return built;
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const out = mkdtempSync(join(tmpdir(), 'pgwarden-guard-'));
  const r = spawnSync(join(root, 'node_modules/.bin/tsc'), [
    '--outDir', out, '--rootDir', join(root, 'agent/guard'), '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022',
    '--types', 'node', '--skipLibCheck', '--strict', '--ignoreConfig', join(root, 'agent/guard/main.ts'),
  ], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tsc failed: ${r.stdout}${r.stderr}`);
  writeFileSync(join(out, 'package.json'), '{"type":"module"}');
  built = join(out, 'main.js');
  return built;
}
