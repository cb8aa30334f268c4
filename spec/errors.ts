/** An invalid config.json field: `path` is the JSON path, e.g. `linux.namespaces[2].type`. */
export class SpecError extends TypeError {
  /** The JSON path of the offending field. */
  readonly path: string;

  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = "SpecError";
    this.path = path;
  }
}

/** Renders a JSON value for an error message, shortened. */
export function show(value: unknown): string {
  if (value === undefined) return "undefined";
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
