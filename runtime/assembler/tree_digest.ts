/**
 * A digest of an unpacked layer directory: what `skiff image check` verifies a stored layer
 * against. The diffID covers the layer's tar, which is gone once it is unpacked; this covers what
 * the tar made: every entry's path, type, permission bits, owner, xattrs, symlink target, device
 * number and file content. Times are left out (reading a file changes its atime, and nothing in
 * the store depends on them).
 */
import { loadNodeBuiltins, nodeCrypto } from "./node_builtins.ts";
import { statx } from "../../ffi/file_attrs.ts";
import { lgetxattr, llistxattr } from "../../ffi/xattr.ts";
import { AT_FDCWD } from "../../ffi/constants.ts";

const S_IFMT = 0o170000;
const TYPES: Record<number, string> = {
  0o100000: "f",
  0o040000: "d",
  0o120000: "l",
  0o020000: "c",
  0o060000: "b",
  0o010000: "p",
  0o140000: "s",
};

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Returns "sha256:<hex>" over the directory tree at `dir` (never following a symlink).
 * @throws Error naming the entry that cannot be read.
 */
export async function layerTreeDigest(dir: string): Promise<string> {
  await loadNodeBuiltins();
  const total = nodeCrypto().createHash("sha256");
  const buf = new Uint8Array(1 << 20);
  const walk = async (rel: string): Promise<void> => {
    const path = rel === "" ? dir : `${dir}/${rel}`;
    const st = statx(AT_FDCWD, path);
    const type = TYPES[st.mode & S_IFMT] ?? "?";
    let extra = "";
    if (type === "f") {
      const h = nodeCrypto().createHash("sha256");
      const file = await Deno.open(path);
      try {
        for (;;) {
          const n = await file.read(buf);
          if (n === null) break;
          h.update(buf.subarray(0, n));
        }
      } finally {
        file.close();
      }
      extra = `${st.size}:${h.digest("hex")}`;
    } else if (type === "l") {
      extra = JSON.stringify(await Deno.readLink(path));
    } else if (type === "c" || type === "b") {
      extra = `${st.rdevMajor}:${st.rdevMinor}`;
    }
    const xattrs = llistxattr(path).sort().map((n) =>
      `${JSON.stringify(n)}=${hex(lgetxattr(path, n) ?? new Uint8Array(0))}`
    );
    const mode = (st.mode & 0o7777).toString(8);
    total.update(
      `${JSON.stringify(rel)} ${type} ${mode} ${st.uid}:${st.gid} ${extra} ${xattrs.join(",")}\n`,
    );
    if (type !== "d") return;
    const names: string[] = [];
    for await (const e of Deno.readDir(path)) names.push(e.name);
    names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const name of names) await walk(rel === "" ? name : `${rel}/${name}`);
  };
  await walk("");
  return `sha256:${total.digest("hex")}`;
}
