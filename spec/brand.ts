/**
 * One of a thing per process, however many copies of its module: dist/skiff's one-file command
 * entries can hold two copies of a module, their own and the split bundle's that a path loaded on
 * use brings (scripts/build.ts). Both tools key on `Symbol.for("skiff.NAME")`, the same in every
 * copy:
 * - `instanceof` by brand for the error classes callers test: an error made from one copy's class
 *   must still be an instance of the other's. A branded class marks its prototype with the key.
 * - processWide(): state that must be one per process (log options, the registered exit).
 * @module
 */

/**
 * The test behind a branded class's `static [Symbol.hasInstance]`: for the class `cls` itself,
 * whether `value` has `brand` on its prototype chain; for a subclass (`self` is not `cls`), the
 * usual prototype test.
 */
export function isBranded(self: unknown, cls: unknown, brand: symbol, value: unknown): boolean {
  if (self !== cls) return Function.prototype[Symbol.hasInstance].call(self, value);
  return (typeof value === "object" || typeof value === "function") && value !== null &&
    brand in value;
}

/** Marks `cls`'s prototype with `brand` (not enumerable). */
export function brand(cls: { prototype: object }, brand: symbol): void {
  Object.defineProperty(cls.prototype, brand, { value: true });
}

/**
 * The object kept per process under `Symbol.for("skiff." + name)` on globalThis: `initial` for the
 * first copy of a module that asks, the same object for every later one.
 */
export function processWide<T extends object>(name: string, initial: T): T {
  const store = globalThis as { [key: symbol]: unknown };
  return (store[Symbol.for(`skiff.${name}`)] ??= initial) as T;
}
