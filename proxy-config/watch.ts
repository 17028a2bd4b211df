// `proxy-config haproxy --watch`: keep an HAProxy config in step with the members in etcd.
//
// A watch on the cluster's keys schedules a pass whenever a member key changes (agents rewrite
// their key every loop, so passes are coalesced: at most one per `debounceMs`, and one when the
// burst is over at the latest). A pass reads every member, renders, and only when the text
// changed: writes it to a temporary file, has `haproxy -c` check it, renames it over `out`, and
// reloads HAProxy gracefully. A periodic re-read (`resyncMs`) covers anything a watch could miss.
//
// The running config is never touched on failure: when etcd cannot be read, the render fails,
// HAProxy rejects the new text or the member list is empty (unless `allowEmpty`), the pass logs
// a clear error, keeps the last good file and retries (1 s, doubling to 10 s). A failed reload is
// retried on the next pass even when the text did not change.
import type { MemberRecord } from '../agent/core/types.js';
import type { Logger } from '../agent/log.js';
import { haproxyMembers } from './members.js';
import type { HaproxyMember } from './render.js';
import { reloadHaproxy, type ReloadMethod } from './reload.js';
import { installHaproxyConfig } from './write.js';

/** Where the members come from (etcd in production; anything in a test). */
export interface MemberSource {
  /** For messages: e.g. "/pgwarden/demo/members/ on etcd 10.0.0.1:2379". */
  readonly where: string;
  /** Every member record; rejects when they cannot be read. */
  read(): Promise<readonly MemberRecord[]>;
  /**
   * Call `onChange(key)` on every change under the cluster prefix (key relative to it, "" when
   * changes may have been missed). Resolves to a function that cancels the watch.
   */
  watch(onChange: (key: string) => void): Promise<() => Promise<void>>;
}

export type WatchStage = 'etcd' | 'empty' | 'render' | 'validate' | 'write' | 'reload';

export type WatchEvent =
  | { readonly type: 'unchanged'; readonly members: readonly string[] }
  | { readonly type: 'written'; readonly members: readonly string[] }
  | { readonly type: 'reloaded'; readonly message: string }
  | { readonly type: 'error'; readonly stage: WatchStage; readonly message: string };

export interface HaproxyWatchOptions {
  readonly source: MemberSource;
  /** Members → config text. May throw (HaproxyRenderError, TemplateError). */
  readonly render: (members: readonly HaproxyMember[]) => string;
  readonly out: string;
  /** Check every new text with `haproxy -c` before installing it. Default true. */
  readonly validate?: boolean;
  readonly haproxyBin?: string;
  readonly reload: ReloadMethod;
  /** Coalescing window for member changes. Default 500 ms. */
  readonly debounceMs?: number;
  /** Full re-read even without a watch event. Default 30 s. */
  readonly resyncMs?: number;
  /** First retry after a failed pass (doubling up to 10 s). Default 1 s. */
  readonly retryMs?: number;
  /** Write a config without servers when no member is registered. Default false: keep the last. */
  readonly allowEmpty?: boolean;
  readonly logger: Logger;
  /** Told about every pass's outcome (tests, and the command's exit status). */
  readonly onEvent?: (e: WatchEvent) => void;
}

const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 10_000;

const isMemberKey = (key: string): boolean => key === '' || key.startsWith('members/');

export class HaproxyWatch {
  readonly #o: HaproxyWatchOptions;
  readonly #log: Logger;
  #cancelWatch: (() => Promise<void>) | null = null;
  #resync: NodeJS.Timeout | null = null;
  #timer: NodeJS.Timeout | null = null;
  /** Monotonic-ish (Date.now) time the pending pass is due. */
  #due = 0;
  #running: Promise<void> | null = null;
  #again = false;
  #stopped = false;
  #retryMs: number;
  #reloadPending = false;
  #passes = 0;

  private constructor(o: HaproxyWatchOptions) {
    this.#o = o;
    this.#log = o.logger;
    this.#retryMs = o.retryMs ?? FIRST_RETRY_MS;
  }

  /** Run a first pass, then watch. Resolves once the first pass is done (whatever its outcome). */
  static async start(o: HaproxyWatchOptions): Promise<HaproxyWatch> {
    const w = new HaproxyWatch(o);
    w.#log.info({ out: o.out, members: o.source.where }, 'watching members to keep the HAProxy config in step');
    w.#cancelWatch = await o.source.watch((key) => {
      if (isMemberKey(key)) w.#schedule(o.debounceMs ?? 500);
    });
    const resyncMs = o.resyncMs ?? 30_000;
    w.#resync = setInterval(() => w.resync(), resyncMs);
    w.#resync.unref();
    await w.#runPass();
    return w;
  }

  /** Re-read the members now (SIGHUP in the command; the resync timer does the same). */
  resync(): void {
    this.#schedule(0);
  }

  /** Completed passes (tests). */
  get passes(): number {
    return this.#passes;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#resync) clearInterval(this.#resync);
    this.#timer = null;
    this.#resync = null;
    await this.#cancelWatch?.().catch(() => undefined);
    this.#cancelWatch = null;
    await this.#running?.catch(() => undefined);
  }

  /** Run a pass within `delayMs` (an earlier request wins; requests while running queue one more). */
  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    const due = Date.now() + delayMs;
    if (this.#timer) {
      if (due >= this.#due) return;
      clearTimeout(this.#timer);
    }
    this.#due = due;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#runPass();
    }, delayMs);
  }

  async #runPass(): Promise<void> {
    if (this.#stopped || this.#running) return;
    let ok = false;
    this.#running = this.#pass().then((r) => { ok = r; });
    try {
      await this.#running;
    } finally {
      this.#running = null;
      this.#passes++;
    }
    if (ok) {
      this.#retryMs = this.#o.retryMs ?? FIRST_RETRY_MS;
      if (this.#again) this.#schedule(this.#o.debounceMs ?? 500);
    } else {
      this.#schedule(this.#retryMs);
      this.#retryMs = Math.min(this.#retryMs * 2, MAX_RETRY_MS);
    }
    this.#again = false;
  }

  #event(e: WatchEvent): void {
    try {
      this.#o.onEvent?.(e);
    } catch {
      // a listener's failure is not ours
    }
  }

  #fail(stage: WatchStage, message: string, fields: Record<string, unknown> = {}): false {
    const kept = stage === 'reload' ? '' : `; keeping ${this.#o.out} as it is`;
    this.#log.error({ stage, out: this.#o.out, ...fields }, `${message}${kept}`);
    this.#event({ type: 'error', stage, message });
    return false;
  }

  /** One read → render → install → reload. Resolves true when everything that was needed worked. */
  async #pass(): Promise<boolean> {
    const o = this.#o;
    let records: readonly MemberRecord[];
    try {
      records = await o.source.read();
    } catch (err) {
      return this.#fail('etcd', `cannot read members from ${o.source.where}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const mapped = haproxyMembers(records);
    for (const s of mapped.skipped) this.#log.warn({ member: s.name }, `member ${s.name} left out: ${s.reason}`);
    const names = mapped.members.map((m) => m.name);
    if (names.length === 0 && o.allowEmpty !== true) {
      return this.#fail('empty', `no member registered under ${o.source.where} (wrong scope or namespace, or every agent down?); pass --allow-empty to write a config without servers`);
    }
    let text: string;
    try {
      text = o.render(mapped.members);
    } catch (err) {
      return this.#fail('render', `cannot render the config: ${err instanceof Error ? err.message : String(err)}`);
    }
    let status: 'unchanged' | 'written';
    try {
      const res = await installHaproxyConfig(o.out, text, { validate: o.validate !== false, ...(o.haproxyBin ? { haproxyBin: o.haproxyBin } : {}) });
      if (res.status === 'rejected') {
        return this.#fail('validate', `HAProxy rejects the new config: ${res.output}`, { members: names });
      }
      status = res.status;
    } catch (err) {
      return this.#fail('write', `cannot write ${o.out}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (status === 'written') {
      this.#log.info({ members: names, out: o.out }, `HAProxy config written for ${names.length} member(s): ${names.join(', ') || 'none'}`);
      this.#event({ type: 'written', members: names });
      this.#reloadPending = o.reload.kind !== 'none';
    } else {
      this.#log.debug({ members: names }, 'membership unchanged');
      this.#event({ type: 'unchanged', members: names });
    }
    if (!this.#reloadPending) return true;
    const reload = await reloadHaproxy(o.reload);
    if (!reload.ok) return this.#fail('reload', `HAProxy reload failed: ${reload.message} (will retry)`);
    this.#reloadPending = false;
    this.#log.info({ how: reload.message }, 'HAProxy reloaded');
    this.#event({ type: 'reloaded', message: reload.message });
    return true;
  }
}
