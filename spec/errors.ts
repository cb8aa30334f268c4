import { brand, isBranded } from "./brand.ts";

const SPEC_ERROR = Symbol.for("skiff.SpecError");

/**
 * An invalid or unusable config.json field. The message always reads `FILE: PATH: what`, e.g.
 * `/b/config.json: linux.namespaces[2].type: must be one of ...`; `FILE: ` is left out until the
 * file is known (the validators see only JSON): withFile() adds it.
 */
export class SpecError extends TypeError {
  static {
    brand(this, SPEC_ERROR);
  }

  /** `instanceof` that also knows this class from another copy of its module (spec/brand.ts). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(this, SpecError, SPEC_ERROR, value);
  }

  /** The JSON path of the offending field, e.g. `linux.namespaces[2].type`. */
  readonly path: string;
  /** What is wrong, without file or path. */
  readonly detail: string;
  /** The config file (or process.json), when known. */
  readonly file?: string;

  /**
   * Makes the error for the field at JSON path `path`, saying `detail`; `file` names the config.
   * @param path the JSON path, e.g. `process.cwd`
   * @param detail what was expected, without file or path
   * @param file the config file, when known
   * @param options the cause, if any
   */
  constructor(path: string, detail: string, file?: string, options?: ErrorOptions) {
    super(`${file ? `${file}: ` : ""}${path}: ${detail}`, options);
    this.name = "SpecError";
    this.path = path;
    this.detail = detail;
    this.file = file;
  }
}

/** `err` naming `file` when it is a SpecError that names no file yet; any other error as it is. */
export function withFile(err: unknown, file: string): unknown {
  if (!(err instanceof SpecError) || err.file !== undefined) return err;
  return new SpecError(err.path, err.detail, file, { cause: err.cause });
}

/** Renders a JSON value for an error message, shortened. */
export function show(value: unknown): string {
  if (value === undefined) return "undefined";
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
