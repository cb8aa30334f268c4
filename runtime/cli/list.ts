import { boolFlag, type Command, stringFlag } from "./command.ts";
import { printLine } from "./output.ts";
import { stateOfId } from "../container/container.ts";
import type { State } from "../../spec/state.ts";

/** Lays out rows like Go's tabwriter with minwidth 12, padding 3 (runc's `list`). */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, col) => Math.max(12, ...rows.map((r) => r[col].length + 3)));
  return rows
    .map((r) =>
      r.map((cell, col) => (col === r.length - 1 ? cell : cell.padEnd(widths[col]))).join("")
    )
    .join("\n");
}

/** `skiff list`. */
export const command: Command = {
  name: "list",
  usage: "list [command options]",
  summary: "list containers started by skiff with the given root",
  flags: [
    { name: "format", alias: "f", type: "string", help: "table or json" },
    { name: "quiet", alias: "q", type: "boolean", help: "display only container IDs" },
  ],
  args: [0, 0],
  run(ctx) {
    const states: State[] = [];
    for (const id of ctx.store.ids()) {
      try {
        states.push(stateOfId(ctx.store, id));
      } catch {
        // Deleted meanwhile.
      }
    }
    if (boolFlag(ctx, "quiet")) {
      for (const s of states) printLine(s.id);
      return 0;
    }
    const format = stringFlag(ctx, "format") ?? "table";
    if (format === "json") {
      // runc encodes a nil slice: "null" when there is no container.
      printLine(states.length ? JSON.stringify(states) : "null");
      return 0;
    }
    if (format !== "table") throw new Error(`invalid format option: ${format}`);
    const rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]];
    for (const s of states) {
      rows.push([s.id, String(s.pid), s.status, s.bundle, s.created, s.owner]);
    }
    printLine(table(rows));
    return 0;
  },
};
