const encoder = new TextEncoder();

/** The address of `buf`'s memory, for a pointer passed as an integer (syscall(2), structs). */
export function addressOf(buf: ArrayBufferView): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf as Uint8Array<ArrayBuffer>)));
}

/** Returns `s` as a NUL-terminated UTF-8 buffer for a `const char *` parameter. */
export function cString(s: string): Uint8Array<ArrayBuffer> {
  const bytes = encoder.encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/**
 * Builds a NULL-terminated `char *const[]` (argv/envp) from strings.
 * The returned `keep` array holds the string buffers alive for the duration of the call.
 */
export function cStringArray(
  items: readonly string[],
): { array: Uint8Array<ArrayBuffer>; keep: Uint8Array<ArrayBuffer>[] } {
  const keep = items.map(cString);
  const pointers = new BigUint64Array(items.length + 1);
  keep.forEach((buf, i) => {
    pointers[i] = addressOf(buf);
  });
  return { array: new Uint8Array(pointers.buffer), keep };
}
