import { it } from 'vitest';
import { runSeed } from './run.js';
import { RULES } from '../../agent/core/rules.js';
it('stats', () => {
  const known = new Map<string, number[]>(); const rules = new Map<string, number>();
  let stale = 0, prom = 0, fw = 0, fa = 0, rf = 0, lost = 0, lostSeeds = 0, acked = 0, conv: number[] = [], sync = 0, n = 0;
  for (let seed = 1; seed <= 3000; seed++) {
    const r = runSeed(seed); n++;
    for (const k of r.known) known.set(k.kind, [...(known.get(k.kind) ?? []), seed]);
    for (const [k, v] of Object.entries(r.stats.rules)) rules.set(k, (rules.get(k) ?? 0) + v);
    prom += r.stats.promotions; stale += r.stats.staleStatusWrites; if (!r.ok) console.log("FAIL", seed, r.violations.map(v=>v.kind+": "+v.message).join(" | ")); fw += r.stats.freezeWindows; fa += r.stats.freezeAcks; rf += r.stats.routedToFrozen;
    lost += r.stats.lostAcked; if (r.stats.lostAcked) lostSeeds++; acked += r.stats.writesAcked;
    if (r.stats.convergenceMs !== null) conv.push(r.stats.convergenceMs);
    if (r.setup.includes('synchronous')) sync++;
  }
  conv.sort((a, b) => a - b);
  console.log(`seeds ${n} (sync ${sync}) promotions ${prom} stale ${stale} freezeWindows ${fw} freezeAcks ${fa} routedToFrozen ${rf} acked ${acked} lostAcked(async) ${lost} in ${lostSeeds} seeds`);
  console.log(`convergence ms p50 ${conv[Math.floor(conv.length/2)]} p99 ${conv[Math.floor(conv.length*0.99)]} max ${conv[conv.length-1]}`);
  for (const [k, v] of known) console.log(`${k}: ${v.length} seeds e.g. ${v.slice(0, 6).join(',')}`);
  console.log('never fired:', RULES.map((r) => r.id).filter((id) => !rules.has(id)).join(' '));
  console.log([...rules].sort((a,b)=>b[1]-a[1]).map(([k,v])=>`${k}=${v}`).join(' '));
}, 600000);
