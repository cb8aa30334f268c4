import assert from "node:assert/strict";
import {
  DBusConnection,
  DBusError,
  decodeMessage,
  encodeMessage,
  SIGNAL,
  splitSignature,
  unixPathOf,
  Variant,
} from "./dbus.ts";

/** A private bus: `dbus-daemon --session` on a socket in a temp dir, stopped on dispose. */
async function privateBus(): Promise<AsyncDisposable & { path: string }> {
  const dir = Deno.makeTempDirSync({ prefix: "skiff-dbus-" });
  const path = `${dir}/bus`;
  const child = new Deno.Command("dbus-daemon", {
    args: ["--session", `--address=unix:path=${path}`, "--print-address", "--nofork"],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const dispose = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* exited */ }
    await child.status;
    await child.stdout.cancel().catch(() => {});
    Deno.removeSync(dir, { recursive: true });
  };
  try {
    // --print-address writes the address once the socket listens.
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    reader.releaseLock();
    assert.ok(new TextDecoder().decode(value).includes(path));
  } catch (err) {
    await dispose();
    throw err;
  }
  return { path, [Symbol.asyncDispose]: dispose };
}

const hasDaemon = (() => {
  try {
    return Deno.statSync("/usr/bin/dbus-daemon").isFile;
  } catch {
    return false;
  }
})();

Deno.test("D-Bus signatures split into single complete types", () => {
  assert.deepEqual(splitSignature("ssa(sv)a(sa(sv))"), ["s", "s", "a(sv)", "a(sa(sv))"]);
  assert.deepEqual(splitSignature("a{sv}tb"), ["a{sv}", "t", "b"]);
  assert.throws(() => splitSignature("a(s"), /unbalanced|ends early/);
  assert.throws(() => splitSignature("z"), /unknown type "z"/);
});

Deno.test("a message round-trips through the marshaller with every type the driver uses", () => {
  const body = [
    "skiff-x.scope",
    "fail",
    [
      ["Delegate", new Variant("b", true)],
      ["PIDs", new Variant("au", [1234])],
      ["MemoryMax", new Variant("t", 2n ** 64n - 1n)],
      ["AllowedCPUs", new Variant("ay", new Uint8Array([3]))],
      ["DeviceAllow", new Variant("a(ss)", [["/dev/null", "rwm"]])],
      ["CPUWeight", new Variant("t", 100)],
    ],
    [],
  ];
  const bytes = encodeMessage({
    type: 1,
    path: "/org/freedesktop/systemd1",
    interface: "org.freedesktop.systemd1.Manager",
    member: "StartTransientUnit",
    destination: "org.freedesktop.systemd1",
    signature: "ssa(sv)a(sa(sv))",
    body,
  }, 7);
  const message = decodeMessage(bytes);
  assert.equal(message.serial, 7);
  assert.equal(message.member, "StartTransientUnit");
  assert.equal(message.signature, "ssa(sv)a(sa(sv))");
  assert.deepEqual(message.body, body);
});

Deno.test("bus addresses: the unix path is taken, escapes decoded; others are refused", () => {
  assert.equal(unixPathOf("unix:path=/run/dbus/system_bus_socket"), "/run/dbus/system_bus_socket");
  assert.equal(unixPathOf("tcp:host=x;unix:path=/run/user/0/bus,guid=ab"), "/run/user/0/bus");
  assert.equal(unixPathOf("unix:path=/tmp/a%20b"), "/tmp/a b");
  assert.throws(() => unixPathOf("unix:abstract=/tmp/x"), /no unix:path= entry/);
});

Deno.test({
  name: "a private dbus-daemon accepts Skiff's authentication, calls and complex signals",
  ignore: !hasDaemon,
  async fn() {
    await using bus = await privateBus();
    await using a = await DBusConnection.connect(bus.path);
    await using b = await DBusConnection.connect(bus.path);
    assert.match(a.uniqueName, /^:1\.\d+$/);
    const [names] = await a.call({
      destination: "org.freedesktop.DBus",
      path: "/org/freedesktop/DBus",
      interface: "org.freedesktop.DBus",
      member: "ListNames",
    });
    assert.ok((names as string[]).includes(b.uniqueName), String(names));
    // The daemon validates every message against its signature before it routes it: a body
    // marshalled wrongly would disconnect `a` instead of reaching `b`.
    await b.addMatch("type='signal',interface='org.skiff.Test'");
    const received = new Promise<unknown[]>((resolve) => b.onSignal((m) => resolve(m.body)));
    const body = [
      "unit.scope",
      [["Delegate", new Variant("b", true)], ["TasksMax", new Variant("t", 2n ** 64n - 1n)]],
      [["x", [["y", new Variant("as", ["1", "2"])]]]],
      new Uint8Array([1, 2, 255]),
      -5,
    ];
    await a.emit({
      path: "/org/skiff/Test",
      interface: "org.skiff.Test",
      member: "Ping",
      signature: "sa(sv)a(sa(sv))ayx",
      body,
    });
    assert.deepEqual(await received, body);
    // An error reply is a DBusError that names the error and the call.
    await assert.rejects(
      a.call({
        destination: "org.freedesktop.DBus",
        path: "/org/freedesktop/DBus",
        interface: "org.freedesktop.DBus",
        member: "GetNameOwner",
        signature: "s",
        body: ["org.skiff.Nobody"],
      }),
      (err: unknown) =>
        err instanceof DBusError &&
        err.errorName === "org.freedesktop.DBus.Error.NameHasNoOwner" &&
        /GetNameOwner/.test(err.message),
    );
    // A method call to Skiff is answered with an error, never left hanging.
    await assert.rejects(
      a.call({ destination: b.uniqueName, path: "/", interface: "org.skiff.T", member: "M" }),
      /UnknownMethod/,
    );
    void SIGNAL;
  },
});

Deno.test({
  name: "a socket nobody listens on is an error that names it",
  async fn() {
    const dir = Deno.makeTempDirSync();
    try {
      await assert.rejects(
        DBusConnection.connect(`${dir}/none`),
        new RegExp(`cannot connect to the D-Bus socket ${dir}/none`),
      );
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
