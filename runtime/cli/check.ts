import { join } from "../path.ts";
import { boolFlag, type Command, stringFlag } from "./command.ts";
import { checkConfig, type CheckReport, type Finding } from "../check/check.ts";
import { UsageError } from "../errors.ts";

const COLOURS = { error: "\x1b[1;31m", warning: "\x1b[1;33m", heading: "\x1b[1m", dim: "\x1b[2m" };
const RESET = "\x1b[0m";

/** The report for people: grouped by severity, in colour on a terminal (unless NO_COLOR). */
export function renderText(report: CheckReport, colour: boolean): string {
  const paint = (style: keyof typeof COLOURS, text: string) =>
    colour ? `${COLOURS[style]}${text}${RESET}` : text;
  const lines: string[] = [];
  const group = (title: string, severity: "error" | "warning", findings: Finding[]) => {
    if (findings.length === 0) return;
    lines.push(paint("heading", `${title} (${findings.length}):`));
    for (const f of findings) {
      lines.push(`  ${paint(severity, severity)} ${f.path ?? "(config)"}: ${f.message}`);
      if (f.fix) lines.push(`      fix:  ${f.fix}`);
      if (f.section) lines.push(paint("dim", `      spec: ${f.section}`));
    }
    lines.push("");
  };
  lines.push(`${report.configFile}`);
  group("Errors: create would refuse", "error", report.errors);
  group("Warnings: accepted, but probably not meant", "warning", report.warnings);
  if (report.errors.length === 0 && report.warnings.length === 0) {
    lines.push("  no problems found", "");
  }
  if (report.host) {
    lines.push(paint("heading", "Host:"));
    for (const [key, value] of Object.entries(report.host)) {
      lines.push(`  ${key}: ${typeof value === "object" ? JSON.stringify(value) : value}`);
    }
    lines.push("");
  }
  lines.push(`${report.errors.length} error(s), ${report.warnings.length} warning(s)`);
  return lines.join("\n");
}

/** `skiff check`: explains a bundle. */
export const command: Command = {
  name: "check",
  usage: "check [--bundle DIR | --config FILE] [--format text|json] [--strict] [--host]",
  summary: "list every problem of a bundle's config.json (errors, warnings), without creating",
  flags: [
    {
      name: "bundle",
      alias: "b",
      type: "string",
      path: true,
      help: "the bundle directory (default: the current directory)",
    },
    { name: "config", type: "string", path: true, help: "a config.json to check instead" },
    { name: "format", alias: "f", type: "string", help: "text or json" },
    { name: "strict", type: "boolean", help: "exit 1 on warnings too" },
    { name: "host", type: "boolean", help: "also report the host's facts" },
  ],
  args: [0, 0],
  run(ctx) {
    const format = stringFlag(ctx, "format") ?? "text";
    if (format !== "text" && format !== "json") {
      throw new UsageError(`--format: ${JSON.stringify(format)} is not text or json`);
    }
    const bundle = stringFlag(ctx, "bundle");
    const config = stringFlag(ctx, "config");
    if (bundle !== undefined && config !== undefined) {
      throw new UsageError("--bundle and --config: give one of them");
    }
    const report = checkConfig({
      configFile: config ?? join(bundle ?? Deno.cwd(), "config.json"),
      store: ctx.store,
      // As `run` would create it: in the foreground, so a terminal needs no console socket.
      create: {
        foreground: true,
        systemdCgroup: ctx.systemdCgroup,
        rootlessCgroups: ctx.rootlessCgroups ?? false,
      },
      host: boolFlag(ctx, "host"),
    });
    if (format === "json") {
      console.log(JSON.stringify(report, null, 2));
    } else {
      const colour = Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
      console.log(renderText(report, colour));
    }
    if (report.errors.length > 0) return 1;
    return boolFlag(ctx, "strict") && report.warnings.length > 0 ? 1 : 0;
  },
};
