/**
 * The old name of cgroup.ts, kept only because container/exec.ts still imports it from here (that
 * file belongs to another change). Delete once exec.ts imports ./cgroup.ts.
 */
export { containerCgroup, isPaused } from "./cgroup.ts";
