/** Typed libc bindings. Every wrapper throws a SyscallError naming the call, its arguments and errno. */
export * from "./errno.ts";
export * from "./constants.ts";
export * from "./fs.ts";
export * from "./mount.ts";
export * from "./namespace.ts";
export * from "./process.ts";
export { SYS } from "./arch.ts";
export { cString, cStringArray } from "./c_string.ts";
export * from "./socket.ts";
export * from "./tty.ts";
