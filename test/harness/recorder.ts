// A fake of any port: every method resolves to undefined unless overridden; `calls` lists the
// methods called, in order.
export function recorder<T extends object>(overrides: Partial<T>, calls: string[]): T {
  return new Proxy(overrides, {
    get: (target, prop) => {
      const own = (target as Record<string | symbol, unknown>)[prop];
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return typeof own === 'function' ? (own as (...a: unknown[]) => unknown)(...args) : Promise.resolve(undefined);
      };
    },
  }) as T;
}
