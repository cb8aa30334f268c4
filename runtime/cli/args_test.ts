import assert from "node:assert/strict";
import { type FlagSpec, parseArgs } from "./args.ts";

const FLAGS: FlagSpec[] = [
  { name: "bundle", alias: "b", type: "string", help: "" },
  { name: "detach", alias: "d", type: "boolean", help: "" },
  { name: "env", alias: "e", type: "string", multiple: true, help: "" },
];

Deno.test("parseArgs() accepts flags after positionals, with one or two dashes and =value", () => {
  const parsed = parseArgs(["ID", "-bundle=/b", "--detach", "-e", "A=1", "--env=B=2"], FLAGS);
  assert.deepEqual(parsed.positionals, ["ID"]);
  assert.equal(parsed.flags.bundle, "/b");
  assert.equal(parsed.flags.detach, true);
  assert.deepEqual(parsed.flags.env, ["A=1", "B=2"]);
});

Deno.test("parseArgs() stops at -- and keeps the rest", () => {
  const parsed = parseArgs(["-d", "ID", "--", "-x", "y"], FLAGS);
  assert.deepEqual(parsed.rest, ["-x", "y"]);
  assert.deepEqual(parsed.positionals, ["ID"]);
});

Deno.test("parseArgs() refuses unknown flags and missing values", () => {
  assert.throws(() => parseArgs(["--nope"], FLAGS), /flag provided but not defined: -nope/);
  assert.throws(() => parseArgs(["--bundle"], FLAGS), /flag needs an argument: -bundle/);
  assert.throws(() => parseArgs(["--detach=maybe"], FLAGS), /invalid boolean value/);
});

Deno.test("parseArgs() makes path flags absolute against the cwd at parse time", () => {
  const specs: FlagSpec[] = [{ name: "pid-file", type: "string", help: "", path: true }];
  assert.equal(parseArgs(["--pid-file", "x/pid"], specs).flags["pid-file"], `${Deno.cwd()}/x/pid`);
  assert.equal(parseArgs(["--pid-file=/abs"], specs).flags["pid-file"], "/abs");
  assert.equal(parseArgs(["--pid-file", ""], specs).flags["pid-file"], "");
});
