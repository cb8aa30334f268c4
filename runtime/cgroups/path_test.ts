import assert from "node:assert/strict";
import { SpecError } from "../../spec/errors.ts";
import {
  cgroupDir,
  cleanCgroupPath,
  expandSlice,
  innerCgroupPath,
  systemdCgroupPath,
} from "./path.ts";
import { hugepageSizeName, layoutOf, parseCgroupMounts, parseProcCgroup } from "./detect.ts";

const HYBRID_MOUNTINFO = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
`;

const UNIFIED_MOUNTINFO =
  `32 23 0:29 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n`;

Deno.test("parseCgroupMounts() finds each v1 controller, co-mounted ones under both names", () => {
  const { v1, unified } = parseCgroupMounts(HYBRID_MOUNTINFO);
  assert.equal(v1.cpu.mountPoint, "/sys/fs/cgroup/cpu,cpuacct");
  assert.equal(v1.cpuacct, v1.cpu);
  assert.deepEqual(v1.cpuset.controllers, ["cpuset"]);
  assert.deepEqual(v1["name=systemd"].controllers, ["name=systemd"]);
  assert.equal(v1.memory.root, "/");
  assert.equal(unified?.mountPoint, "/sys/fs/cgroup/unified");
  assert.equal(layoutOf(v1, unified), "hybrid");
});

Deno.test("layoutOf() says unified for cgroup2 alone and legacy for v1 alone", () => {
  const u = parseCgroupMounts(UNIFIED_MOUNTINFO);
  assert.equal(layoutOf(u.v1, u.unified), "unified");
  const legacy = parseCgroupMounts(
    HYBRID_MOUNTINFO.split("\n").filter((l) => !l.includes("cgroup2")).join("\n"),
  );
  assert.equal(layoutOf(legacy.v1, legacy.unified), "legacy");
  assert.throws(() => layoutOf({}, undefined), /no cgroup filesystem/);
});

Deno.test("parseProcCgroup() maps each controller and the cgroup2 entry to its path", () => {
  const own = parseProcCgroup(
    "4:memory:/a/b\n2:cpu,cpuacct:/\n1:name=systemd:/s\n0::/user.slice\n",
  );
  assert.deepEqual(own, {
    memory: "/a/b",
    cpu: "/",
    cpuacct: "/",
    "name=systemd": "/s",
    "": "/user.slice",
  });
});

Deno.test("hugepageSizeName() spells sizes as the hugetlb controller files do", () => {
  assert.equal(hugepageSizeName("hugepages-2048kB"), "2MB");
  assert.equal(hugepageSizeName("hugepages-1048576kB"), "1GB");
  assert.equal(hugepageSizeName("hugepages-64kB"), "64KB");
  assert.equal(hugepageSizeName("other"), undefined);
});

Deno.test("cleanCgroupPath() cleans lexically and keeps absolute and relative apart", () => {
  assert.deepEqual(cleanCgroupPath("/a//b/./c/"), { path: "/a/b/c", absolute: true });
  assert.deepEqual(cleanCgroupPath("a/../b"), { path: "b", absolute: false });
  assert.deepEqual(cleanCgroupPath("/a/b/../c"), { path: "/a/c", absolute: true });
});

Deno.test("cleanCgroupPath() refuses a '..' that leaves the hierarchy, naming linux.cgroupsPath", () => {
  for (const bad of ["/../etc", "/a/../../b", "../x", "a/../../x"]) {
    assert.throws(() => cleanCgroupPath(bad), (err: unknown) => {
      assert.ok(err instanceof SpecError);
      assert.equal(err.path, "linux.cgroupsPath");
      assert.match(err.message, /must not use "\.\."/);
      return true;
    });
  }
  assert.throws(() => cleanCgroupPath("/"), /not the root itself/);
  assert.throws(() => cleanCgroupPath("/a/.."), /not the root itself/);
});

Deno.test("innerCgroupPath() defaults to the container ID as a relative path (as runc)", () => {
  assert.deepEqual(innerCgroupPath({ id: "web" }, false), { path: "web", absolute: false });
  assert.deepEqual(innerCgroupPath({ id: "web", cgroupsPath: "/pods/web" }, false), {
    path: "/pods/web",
    absolute: true,
  });
  // Without --systemd-cgroup a colon form is just a (relative) name, as in runc.
  assert.deepEqual(innerCgroupPath({ id: "w", cgroupsPath: "system.slice:d:w" }, false), {
    path: "system.slice:d:w",
    absolute: false,
  });
});

Deno.test("--systemd-cgroup without a running systemd is an error naming the flag and the path", () => {
  assert.throws(
    () =>
      innerCgroupPath({ id: "web", cgroupsPath: "system.slice:docker:web", systemd: true }, false),
    (err: unknown) => {
      assert.ok(err instanceof SpecError);
      assert.match(err.message, /--systemd-cgroup/);
      assert.match(err.message, /"system\.slice:docker:web"/);
      assert.match(err.message, /systemd is not running/);
      return true;
    },
  );
});

Deno.test("systemd slice:prefix:name paths expand like systemd lays out its units", () => {
  assert.equal(expandSlice("a-b-c.slice"), "/a.slice/a-b.slice/a-b-c.slice");
  assert.equal(expandSlice("-.slice"), "");
  assert.equal(systemdCgroupPath("system.slice:docker:abc", "x"), "/system.slice/docker-abc.scope");
  assert.equal(systemdCgroupPath(":crio:abc", "x"), "/system.slice/crio-abc.scope");
  assert.equal(systemdCgroupPath("machine.slice::abc", "x"), "/machine.slice/abc.scope");
  assert.equal(systemdCgroupPath(undefined, "web"), "/system.slice/skiff-web.scope");
  assert.throws(() => systemdCgroupPath("a:b", "x"), /slice:prefix:name/);
  assert.throws(() => expandSlice("a--b.slice"), /not a valid systemd slice/);
});

Deno.test("cgroupDir() puts absolute paths under the mount and relative ones under the own cgroup", () => {
  const mount = { mountPoint: "/sys/fs/cgroup/memory", root: "/", controllers: ["memory"] };
  const abs = cleanCgroupPath("/pods/a");
  const rel = cleanCgroupPath("a");
  assert.equal(cgroupDir(mount, "/user/1", abs, false), "/sys/fs/cgroup/memory/pods/a");
  assert.equal(cgroupDir(mount, "/user/1", rel, false), "/sys/fs/cgroup/memory/user/1/a");
  // cgroup v2: relative paths start at the PARENT of the own cgroup (runc fs2 defaultDirPath).
  const v2 = { mountPoint: "/sys/fs/cgroup", root: "/", controllers: [] };
  assert.equal(
    cgroupDir(v2, "/user.slice/session-1.scope", rel, true),
    "/sys/fs/cgroup/user.slice/a",
  );
  assert.equal(cgroupDir(v2, "/", rel, true), "/sys/fs/cgroup/a");
  // A hierarchy whose mount shows a sub-tree (inside a container): paths are relative to it.
  const sub = { mountPoint: "/sys/fs/cgroup/memory", root: "/docker/c1", controllers: ["memory"] };
  assert.equal(cgroupDir(sub, "/docker/c1/x", rel, false), "/sys/fs/cgroup/memory/x/a");
});
