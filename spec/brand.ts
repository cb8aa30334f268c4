/**
 * `instanceof` by brand for the error classes callers test: dist/skiff's one-file command entries
 * can hold two copies of a module, their own and the split bundle's that a path loaded on use
 * brings (scripts/build.ts), and an error made from one copy's class must still be an instance of
 * the other's. A branded class marks its prototype with a `Symbol.for()` key, the same in every
 * copy.
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
