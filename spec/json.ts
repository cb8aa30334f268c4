/**
 * Readers of parsed JSON that check a value's type and range and throw a SpecError naming its JSON
 * path. The plain readers need the value; the opt* readers return undefined (optArray: []) when it
 * is absent. Absent means undefined; with NULL_IS_UNSET, null too: runc reads config.json and
 * `update --resources` with Go's encoding/json, where null leaves a field unset, and the cgroup
 * planners (runtime/cgroups/resources.ts) follow it for linux.resources.
 */
import { show, SpecError } from "./errors.ts";

/** A JSON object. */
export type Json = Record<string, unknown>;

/** How an opt* reader tells an absent value. */
export interface AbsentOptions {
  /** null is absent too (Go's encoding/json); otherwise null is a wrong type. */
  nullIsUnset?: boolean;
}

/** For the opt* readers: null leaves the field unset, as in Go. */
export const NULL_IS_UNSET: AbsentOptions = { nullIsUnset: true };

function absent(v: unknown, how: AbsentOptions): v is undefined | null {
  return v === undefined || (how.nullIsUnset === true && v === null);
}

/** True for a JSON object (not null, not an array). */
export function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** An object; SpecError naming `path` otherwise. */
export function object(v: unknown, path: string): Json {
  if (!isObject(v)) throw new SpecError(path, `expected an object, got ${show(v)}`);
  return v;
}

/** An object, or undefined when absent. */
export function optObject(v: unknown, path: string, how: AbsentOptions = {}): Json | undefined {
  return absent(v, how) ? undefined : object(v, path);
}

/** An array; SpecError naming `path` otherwise. */
export function array(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) throw new SpecError(path, `expected an array, got ${show(v)}`);
  return v;
}

/** An array, or [] when undefined or null (an empty list either way). */
export function optArray(v: unknown, path: string): unknown[] {
  return v === undefined || v === null ? [] : array(v, path);
}

/** A string; SpecError naming `path` otherwise. */
export function string(v: unknown, path: string): string {
  if (typeof v !== "string") throw new SpecError(path, `expected a string, got ${show(v)}`);
  return v;
}

/** A string, or undefined when absent. */
export function optString(v: unknown, path: string, how: AbsentOptions = {}): string | undefined {
  return absent(v, how) ? undefined : string(v, path);
}

/** Checks that `v` is true, false or undefined. */
export function boolean(v: unknown, path: string): void {
  if (v !== undefined && typeof v !== "boolean") {
    throw new SpecError(path, `expected true or false, got ${show(v)}`);
  }
}

function range(min: number, max: number): string {
  if (max === Infinity) return `at least ${min}`;
  if (min === -Infinity) return `at most ${max}`;
  return `${min} to ${max}`;
}

/** An integer from `min` to `max`; SpecError naming `path` otherwise. */
export function integer(v: unknown, path: string, min = -Infinity, max = Infinity): number {
  if (typeof v !== "number" || !Number.isInteger(v)) {
    throw new SpecError(path, `expected an integer, got ${show(v)}`);
  }
  if (v < min || v > max) {
    throw new SpecError(path, `${v} is out of range (${range(min, max)})`);
  }
  return v;
}

/** An integer from `min` to `max`, or undefined when absent. */
export function optInteger(
  v: unknown,
  path: string,
  min = -Infinity,
  max = Infinity,
  how: AbsentOptions = {},
): number | undefined {
  return absent(v, how) ? undefined : integer(v, path, min, max);
}

/** One of `allowed`; SpecError naming `path` otherwise. */
export function oneOf<T extends string>(v: unknown, allowed: readonly T[], path: string): T {
  if (typeof v !== "string" || !allowed.includes(v as T)) {
    throw new SpecError(path, `${show(v)} is not one of ${allowed.join(", ")}`);
  }
  return v as T;
}

/** An array of strings ([] when absent); errors name the element's path. */
export function strings(v: unknown, path: string): string[] {
  return optArray(v, path).map((item, i) => string(item, `${path}[${i}]`));
}

/** Throws the SpecError of a required field that is missing. */
export function required(path: string): never {
  throw new SpecError(path, "is required");
}
