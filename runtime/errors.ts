/** Errors with a meaning engines depend on, and the formatting of error chains. */

/** The container ID is not known: engines match the substring "does not exist". */
export class ContainerNotExistError extends Error {
  /**
   * Makes the error for a container ID that no container has.
   * @param id the ID that was asked for; kept as `id`
   */
  constructor(readonly id: string) {
    super("container does not exist");
    this.name = "ContainerNotExistError";
  }
}

/** The container ID is taken: a container with this ID exists already. */
export class ConflictError extends Error {
  /**
   * Makes the error for a container ID that is in use.
   * @param id the ID that is taken; kept as `id`
   */
  constructor(readonly id: string) {
    super(`container with id ${JSON.stringify(id)} already exists`);
    this.name = "ConflictError";
  }
}

/** A command was used wrongly (bad flags or arguments). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * An error that selects the exit code. An empty message means it was already reported (the
 * container's init tells the CLI over its sync pipe), so cli.ts logs nothing.
 */
export class ExitError extends Error {
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
