/**
 * linux.netDevices: moves host network devices into the container's network namespace
 * (config-linux.md "Network Devices"), from the CLI once the init exists, as runc does from its
 * parent process. The device is renamed in the same RTM_NEWLINK that moves it; its permanent
 * global addresses, which the kernel drops on the move, are added again inside; then it is set up.
 *
 * Nothing moves it back: when the namespace dies the kernel returns physical devices to the host
 * and destroys virtual ones (veth, dummy, macvlan), which is what the spec asks for.
 */
import type { Linux } from "../spec/config.ts";
import {
  formatAddress,
  IFA_F_PERMANENT,
  type InterfaceAddress,
  RT_SCOPE_UNIVERSE,
  RtNetlink,
} from "../ffi/netlink.ts";
import { CLONE_NEWNET, O_CLOEXEC, O_RDONLY } from "../ffi/constants.ts";
import { close, open } from "../ffi/fs.ts";
import { setns } from "../ffi/namespace.ts";

/** Moves every device of `devices` into the network namespace of process `pid`. */
export function moveNetDevices(devices: NonNullable<Linux["netDevices"]>, pid: number): void {
  const entries = Object.entries(devices);
  if (entries.length === 0) return;
  const nsPath = `/proc/${pid}/ns/net`;
  const target = open(nsPath, O_RDONLY | O_CLOEXEC);
  try {
    using host = new RtNetlink();
    for (const [name, device] of entries) {
      const newName = device.name || name;
      try {
        moveOne(host, name, newName, target);
      } catch (err) {
        throw new Error(
          `linux.netDevices.${name}: cannot move network device ${name} into the container as ${newName}`,
          { cause: err },
        );
      }
    }
  } finally {
    close(target);
  }
}

function moveOne(host: RtNetlink, name: string, newName: string, target: number): void {
  const index = host.linkIndex(name);
  // Addresses first: setting the device down flushes its IPv6 addresses (unless the host has
  // net.ipv6.conf.*.keep_addr_on_down), and runc, which lists them after, loses them.
  const keep = host.addresses(index).filter((a) =>
    (a.flags & IFA_F_PERMANENT) !== 0 && a.scope === RT_SCOPE_UNIVERSE
  );
  // Down before the move: host services that use the device see it go away cleanly (as runc).
  host.setUp(index, false);
  host.moveToNamespace(index, newName, target);
  using inside = socketIn(target);
  // A "%d" template is named by the kernel; the index is kept unless the namespace already uses it.
  const newIndex = newName.includes("%d") ? inside.linkIndex("", index) : inside.linkIndex(newName);
  for (const address of keep) addAddress(inside, newIndex, address);
  inside.setUp(newIndex, true);
}

function addAddress(socket: RtNetlink, index: number, address: InterfaceAddress): void {
  try {
    socket.addAddress(index, address);
  } catch (err) {
    throw new Error(`cannot add address ${formatAddress(address)}`, { cause: err });
  }
}

/**
 * An rtnetlink socket inside the namespace of `netnsFd`: a socket belongs to the namespace of the
 * thread that creates it, so this thread enters it for the socket(2) call and comes back.
 */
function socketIn(netnsFd: number): RtNetlink {
  const own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  try {
    setns(netnsFd, CLONE_NEWNET, "container network namespace");
    try {
      return new RtNetlink();
    } finally {
      setns(own, CLONE_NEWNET, "saved net");
    }
  } finally {
    close(own);
  }
}
