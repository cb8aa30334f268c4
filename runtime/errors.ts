/** Errors with a meaning engines depend on, and the formatting of error chains. */
import { brand, isBranded } from "../spec/brand.ts";

const CONTAINER_NOT_EXIST_ERROR = Symbol.for("skiff.ContainerNotExistError");

/** The container ID is not known: engines match the substring "does not exist". */
export class ContainerNotExistError extends Error {
  static {
    brand(this, CONTAINER_NOT_EXIST_ERROR);
  }

  /** `instanceof` that also knows this class from another copy of its module (spec/brand.ts). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(this, ContainerNotExistError, CONTAINER_NOT_EXIST_ERROR, value);
  }

  /**
   * Makes the error for a container ID that no container has.
   * @param id the ID that was asked for; kept as `id`
   */
  constructor(readonly id: string) {
    super("container does not exist");
    this.name = "ContainerNotExistError";
  }
}

const CONFLICT_ERROR = Symbol.for("skiff.ConflictError");

/** The container ID is taken: a container with this ID exists already. */
export class ConflictError extends Error {
  static {
    brand(this, CONFLICT_ERROR);
  }

  /** `instanceof` that also knows this class from another copy of its module (spec/brand.ts). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(this, ConflictError, CONFLICT_ERROR, value);
  }

  /**
   * Makes the error for a container ID that is in use.
   * @param id the ID that is taken; kept as `id`
   */
  constructor(readonly id: string) {
    super(`container with id ${JSON.stringify(id)} already exists`);
    this.name = "ConflictError";
  }
}

const USAGE_ERROR = Symbol.for("skiff.UsageError");

/** A command was used wrongly (bad flags or arguments). */
export class UsageError extends Error {
  static {
    brand(this, USAGE_ERROR);
  }

  /** `instanceof` that also knows this class from another copy of its module (spec/brand.ts). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(this, UsageError, USAGE_ERROR, value);
  }

  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const EXIT_ERROR = Symbol.for("skiff.ExitError");

/**
 * An error that selects the exit code. An empty message means it was already reported (the
 * container's init tells the CLI over its sync pipe), so cli.ts logs nothing.
 */
export class ExitError extends Error {
  static {
    brand(this, EXIT_ERROR);
  }

  /** `instanceof` that also knows this class from another copy of its module (spec/brand.ts). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(this, ExitError, EXIT_ERROR, value);
  }

  constructor(message: string, readonly code: number) {
    super(message);
    this.name = "ExitError";
  }
}

/** Joins an error and its causes into one line: "outer: inner: innermost". */
export function errorChain(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && depth < 10; depth++) {
    if (current instanceof Error) {
      if (!parts.some((p) => p.includes(current instanceof Error ? current.message : ""))) {
        parts.push(current.message);
      }
      current = current.cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return parts.join(": ").replace(/\s*\n\s*/g, " ");
}

/** An error as structured-clone data: what crosses from a Worker (errorData, errorFromData). */
export interface ErrorData {
  name: string;
  message: string;
  /** Its own primitive fields: a SyscallError's `syscall`, `errno` and `code`, a SpecError's `path`. */
  fields: Record<string, string | number | boolean>;
  cause?: ErrorData | string;
}

/**
 * `err` and its causes as data for postMessage(): structured clone keeps an Error's message but
 * drops `code`, `errno` and `cause`, which errnoOf() and errorChain() read.
 */
export function errorData(err: unknown, depth = 0): ErrorData {
  if (!(err instanceof Error)) return { name: "Error", message: String(err), fields: {} };
  const fields: ErrorData["fields"] = {};
  for (const key of Object.keys(err)) {
    const value = (err as unknown as Record<string, unknown>)[key];
    if (key === "name" || key === "message" || key === "stack" || key === "cause") continue;
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
      fields[key] = value;
    }
  }
  const data: ErrorData = { name: err.name, message: err.message, fields };
  if (err.cause !== undefined) {
    data.cause = err.cause instanceof Error && depth < 10
      ? errorData(err.cause, depth + 1)
      : String(err.cause);
  }
  return data;
}

/** The Error that errorData() described: same message, name, fields (errno name) and causes. */
export function errorFromData(data: ErrorData): Error {
  const cause = data.cause === undefined
    ? undefined
    : typeof data.cause === "string"
    ? data.cause
    : errorFromData(data.cause);
  const err = new Error(data.message, cause === undefined ? undefined : { cause });
  err.name = data.name;
  return Object.assign(err, data.fields);
}
