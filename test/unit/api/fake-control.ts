// A ControlPort that records its calls and answers what the test scripted: the stand-in for the
// runtime in tests of the mutating endpoints.
import { DEFAULT_DYNAMIC_CONFIG, type DynamicConfig } from '../../../agent/config/types.js';
import type { ControlPort, ControlResult, SwitchoverRequest } from '../../../agent/runtime/control.js';

export type Call =
  | { op: 'readConfig' }
  | { op: 'writeConfig'; config: DynamicConfig; revision: number }
  | { op: 'switchover'; req: SwitchoverRequest }
  | { op: 'cancelSwitchover' }
  | { op: 'failover'; candidate: string }
  | { op: 'restart' }
  | { op: 'reinitialize' }
  | { op: 'reload' };

export class FakeControl implements ControlPort {
  readonly calls: Call[] = [];
  config: DynamicConfig = structuredClone(DEFAULT_DYNAMIC_CONFIG);
  revision = 7;
  /** Someone else writes between our read and our CAS. */
  loseNextRace = false;
  /** What every operation other than the config answers. */
  result: ControlResult = { status: 200, message: 'done' };
  /** Make the next operation throw this. */
  failWith: Error | null = null;

  async readConfig(): Promise<{ config: DynamicConfig; revision: number }> {
    this.calls.push({ op: 'readConfig' });
    this.#maybeFail();
    return { config: structuredClone(this.config), revision: this.revision };
  }

  async writeConfig(config: DynamicConfig, revision: number): Promise<boolean> {
    this.calls.push({ op: 'writeConfig', config, revision });
    if (this.loseNextRace) {
      this.loseNextRace = false;
      this.revision += 1;
      return false;
    }
    if (revision !== this.revision) return false;
    this.config = structuredClone(config);
    this.revision += 1;
    return true;
  }

  async switchover(req: SwitchoverRequest): Promise<ControlResult> {
    this.calls.push({ op: 'switchover', req });
    return this.#answer();
  }

  async cancelSwitchover(): Promise<ControlResult> {
    this.calls.push({ op: 'cancelSwitchover' });
    return this.#answer();
  }

  async failover(req: { readonly candidate: string }): Promise<ControlResult> {
    this.calls.push({ op: 'failover', candidate: req.candidate });
    return this.#answer();
  }

  async restart(): Promise<ControlResult> {
    this.calls.push({ op: 'restart' });
    return this.#answer();
  }

  async reinitialize(): Promise<ControlResult> {
    this.calls.push({ op: 'reinitialize' });
    return this.#answer();
  }

  async reload(): Promise<ControlResult> {
    this.calls.push({ op: 'reload' });
    return this.#answer();
  }

  ops(): string[] {
    return this.calls.map((c) => c.op);
  }

  #answer(): ControlResult {
    this.#maybeFail();
    return this.result;
  }

  #maybeFail(): void {
    if (this.failWith) {
      const e = this.failWith;
      this.failWith = null;
      throw e;
    }
  }
}
