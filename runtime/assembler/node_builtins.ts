/**
 * node:crypto and node:zlib, loaded on first use. A static import of either makes Deno set up its
 * Node compatibility layer on every start-up (node:zlib +15 ms, node:crypto +20 ms measured), and
 * every `skiff` call (the container init too) would pay for what only image imports need. These
 * are dynamic imports of built-ins, which `deno bundle` leaves as they are; nothing reads sibling
 * files, so the bundle stays self-contained.
 */
type NodeCrypto = typeof import("node:crypto");
type NodeZlib = typeof import("node:zlib");

let crypto: NodeCrypto | undefined;
let zlib: NodeZlib | undefined;

/** Loads node:crypto and node:zlib; every assembler entry point awaits this first. */
export async function loadNodeBuiltins(): Promise<void> {
  crypto ??= await import("node:crypto");
  zlib ??= await import("node:zlib");
}

/** node:crypto, once loadNodeBuiltins() has run. */
export function nodeCrypto(): NodeCrypto {
  if (!crypto) throw new Error("internal error: loadNodeBuiltins() must be awaited first");
  return crypto;
}

/** node:zlib, once loadNodeBuiltins() has run. */
export function nodeZlib(): NodeZlib {
  if (!zlib) throw new Error("internal error: loadNodeBuiltins() must be awaited first");
  return zlib;
}
