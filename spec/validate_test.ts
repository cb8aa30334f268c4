import assert from "node:assert/strict";
import { validateSpec } from "./validate.ts";
import { defaultSpec } from "./defaults.ts";
import { SpecError } from "./errors.ts";
import type { Spec } from "./config.ts";

function refused(edit: (spec: Spec) => void): SpecError {
  const spec = defaultSpec();
  edit(spec);
  try {
    validateSpec(JSON.parse(JSON.stringify(spec)));
  } catch (err) {
    assert.ok(err instanceof SpecError, `expected a SpecError, got ${err}`);
    return err;
  }
  throw new Error("the config was accepted");
}

Deno.test("validateSpec() accepts the default spec of `skiff spec`", () => {
  const spec = defaultSpec();
  assert.deepEqual(validateSpec(JSON.parse(JSON.stringify(spec))), spec);
});

Deno.test("validateSpec() names the JSON path of a wrong namespace type", () => {
  const err = refused((s) => {
    s.linux!.namespaces![2].type = "pidx" as "pid";
  });
  assert.equal(err.path, "linux.namespaces[2].type");
  assert.match(err.message, /"pidx" is not one of pid, network/);
});

Deno.test("validateSpec() requires ociVersion, root.path and process", () => {
  assert.equal(refused((s) => delete (s as Partial<Spec>).ociVersion).path, "ociVersion");
  assert.equal(refused((s) => delete s.root).path, "root");
  assert.equal(refused((s) => delete s.process).path, "process");
});

Deno.test("validateSpec() refuses env entries without '='", () => {
  const err = refused((s) => {
    s.process!.env = ["PATH=/bin", "JUSTNAME"];
  });
  assert.equal(err.path, "process.env[1]");
});

Deno.test("validateSpec() refuses timeOffsets without a time namespace and bad clocks", () => {
  assert.equal(
    refused((s) => {
      s.linux!.timeOffsets = { boottime: { secs: 1 } };
    }).path,
    "linux.timeOffsets",
  );
  assert.equal(
    refused((s) => {
      s.linux!.namespaces!.push({ type: "time" });
      s.linux!.timeOffsets = { realtime: { secs: 1 } };
    }).path,
    "linux.timeOffsets.realtime",
  );
});

Deno.test("validateSpec() allows net.* sysctls only with a network namespace", () => {
  const spec = defaultSpec();
  spec.linux!.sysctl = { "net.ipv4.ip_forward": "1" };
  validateSpec(JSON.parse(JSON.stringify(spec)));
  const err = refused((s) => {
    s.linux!.sysctl = { "net.ipv4.ip_forward": "1" };
    s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== "network");
  });
  assert.match(err.message, /network namespace, which the container does not own/);
});

Deno.test("validateSpec() refuses sysctl names that would escape /proc/sys", () => {
  assert.match(
    refused((s) => {
      s.linux!.sysctl = { "net/../../etc": "x" };
    }).message,
    /is not a valid sysctl name/,
  );
});

Deno.test("validateSpec() refuses an oomScoreAdj outside -1000..1000", () => {
  assert.equal(
    refused((s) => {
      s.process!.oomScoreAdj = 1001;
    }).path,
    "process.oomScoreAdj",
  );
});

Deno.test("validateSpec() accepts idmapped bind mounts, with or without the idmap option", () => {
  const spec = defaultSpec();
  const map = [{ containerID: 0, hostID: 100000, size: 65536 }];
  spec.mounts!.push(
    {
      destination: "/a",
      source: "/srv",
      options: ["rbind", "ridmap"],
      uidMappings: map,
      gidMappings: map,
    },
    { destination: "/b", type: "bind", source: "/srv", uidMappings: map, gidMappings: map },
  );
  assert.deepEqual(validateSpec(JSON.parse(JSON.stringify(spec))), spec);
});

Deno.test("validateSpec() refuses an idmapped mount that is not a bind mount, or has one mapping only", () => {
  const map = [{ containerID: 0, hostID: 1000, size: 1 }];
  const proc = refused((s) => {
    s.mounts![0].uidMappings = map;
    s.mounts![0].gidMappings = map;
  });
  assert.equal(proc.path, "mounts[0].options");
  assert.equal(
    proc.detail,
    'an idmapped mount must be a bind mount: add "bind" or "rbind" (type is "proc")',
  );
  const onlyGid = refused((s) => {
    s.mounts!.push({ destination: "/d", source: "/srv", options: ["bind"], gidMappings: map });
  });
  assert.equal(onlyGid.message, "mounts[7].uidMappings: is required when gidMappings is given");
});

Deno.test("validateSpec() refuses idmap without mappings when there is no user namespace to take them from", () => {
  const err = refused((s) => {
    s.mounts!.push({ destination: "/d", source: "/srv", options: ["bind", "idmap"] });
  });
  assert.equal(err.path, "mounts[7].uidMappings");
  assert.match(
    err.detail,
    /^option "idmap" without uidMappings and gidMappings takes the container's/,
  );
});

Deno.test("validateSpec() checks a mount's id mappings as the kernel checks uid_map", () => {
  const bad = (uidMappings: unknown) =>
    refused((s) => {
      s.mounts!.push({
        destination: "/d",
        source: "/srv",
        options: ["bind"],
        uidMappings: uidMappings as [],
        gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
      });
    }).message;
  assert.equal(bad([]), "mounts[7].uidMappings: must have at least one entry");
  assert.match(
    bad([{ containerID: 0, hostID: 1, size: 0 }]),
    /^mounts\[7\]\.uidMappings\[0\]\.size: /,
  );
  assert.match(
    bad([{ containerID: -1, hostID: 1, size: 1 }]),
    /^mounts\[7\]\.uidMappings\[0\]\.containerID: /,
  );
  assert.equal(
    bad([{ containerID: 0, hostID: 4294967290, size: 10 }]),
    "mounts[7].uidMappings[0]: hostID 4294967290 + size 10 goes past the last valid id 4294967294",
  );
  assert.equal(
    bad([{ containerID: 0, hostID: 0, size: 10 }, { containerID: 5, hostID: 100, size: 10 }]),
    "mounts[7].uidMappings[1]: its containerID range overlaps that of mounts[7].uidMappings[0] " +
      "(the kernel refuses overlapping ranges)",
  );
});

Deno.test("validateSpec() accepts a device fileMode with its own file type bits, as Podman writes it", () => {
  const spec = defaultSpec();
  spec.linux!.devices = [
    { type: "c", path: "/dev/fuse", major: 10, minor: 229, fileMode: 0o020666 },
    { type: "b", path: "/dev/loop0", major: 7, minor: 0, fileMode: 0o060660 },
  ];
  assert.deepEqual(validateSpec(JSON.parse(JSON.stringify(spec))), spec);
  const err = refused((s) => {
    s.linux!.devices = [{ type: "c", path: "/dev/x", major: 1, minor: 3, fileMode: 0o060666 }];
  });
  assert.equal(err.path, "linux.devices[0].fileMode");
  assert.match(err.message, /file type bits that are not those of a type "c" device/);
});

Deno.test("validateSpec() accepts a new user namespace with maps, and checks each range", () => {
  const spec = defaultSpec();
  spec.linux!.namespaces!.push({ type: "user" });
  spec.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  spec.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  assert.deepEqual(validateSpec(JSON.parse(JSON.stringify(spec))), spec);
  const withUser = (s: ReturnType<typeof defaultSpec>) => {
    s.linux!.namespaces!.push({ type: "user" });
    s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  };
  assert.equal(
    refused((s) => {
      withUser(s);
      delete s.linux!.gidMappings;
    }).path,
    "linux.gidMappings",
  );
  assert.equal(
    refused((s) => {
      withUser(s);
      s.linux!.uidMappings![0].size = 0;
    }).path,
    "linux.uidMappings[0].size",
  );
  const beyond = refused((s) => {
    withUser(s);
    s.linux!.gidMappings = [{ containerID: 0, hostID: 4294967295, size: 1 }];
  });
  assert.equal(beyond.path, "linux.gidMappings[0].hostID");
  const overlap = refused((s) => {
    withUser(s);
    s.linux!.uidMappings = [
      { containerID: 0, hostID: 100000, size: 10 },
      { containerID: 5, hostID: 200000, size: 10 },
    ];
  });
  assert.equal(overlap.path, "linux.uidMappings[1]");
  assert.match(overlap.message, /containerID range overlaps that of linux\.uidMappings\[0\]/);
  const joined = refused((s) => {
    withUser(s);
    s.linux!.namespaces!.at(-1)!.path = "/proc/1/ns/user";
  });
  assert.equal(joined.path, "linux.uidMappings");
  assert.match(joined.message, /joining the user namespace linux\.namespaces\[\d+\]\.path/);
  assert.equal(
    refused((s) => {
      s.linux!.uidMappings = [{ containerID: 0, hostID: 1, size: 1 }];
    }).path,
    "linux.uidMappings",
  );
});
