// Resolve the OS user PostgreSQL runs as (for the CLI: `runAs: osUserIds('postgres')`).
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import type { Owner } from './exec.js';

/** uid/gid of an OS user, from /etc/passwd, else from `id -u/-g`. Throws if the user is unknown. */
export function osUserIds(name = 'postgres'): Owner {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === name && f.length >= 4) {
        const uid = Number(f[2]);
        const gid = Number(f[3]);
        if (Number.isInteger(uid) && Number.isInteger(gid)) return { uid, gid };
      }
    }
  } catch { /* no readable /etc/passwd: ask id(1), which also sees NSS users */ }
  try {
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8', timeout: 5000 }).trim());
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8', timeout: 5000 }).trim());
    if (Number.isInteger(uid) && Number.isInteger(gid)) return { uid, gid };
  } catch { /* fall through */ }
  throw new Error(`OS user ${JSON.stringify(name)} not found (looked in /etc/passwd and with id(1)); create it or pick another runAs user`);
}
