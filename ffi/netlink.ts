/**
 * A minimal rtnetlink client (rtnetlink(7)): just what moving a network device into a container's
 * network namespace needs (linux.netDevices). One request at a time, answered before the next.
 */
import { check, libc } from "./_libc.ts";
import { SOCK_CLOEXEC } from "./constants.ts";
import { SyscallError } from "./errno.ts";
import { cString } from "./c_string.ts";

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const NETLINK_ROUTE = 0;

const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const NLM_F_DUMP = 0x300;

const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const RTM_NEWADDR = 20;
const RTM_GETADDR = 22;

const IFLA_IFNAME = 3;
const IFLA_NET_NS_FD = 28;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_BROADCAST = 4;
const IFA_FLAGS = 8;

const IFF_UP = 0x1;
// The ifa_flags RTM_NEWADDR takes from a caller (IFA_F_NODAD, OPTIMISTIC, HOMEADDRESS,
// MANAGETEMPADDR, NOPREFIXROUTE, MCAUTOJOIN); the others are state the kernel keeps itself.
const IFA_SETTABLE_FLAGS = 0x02 | 0x04 | 0x10 | 0x100 | 0x200 | 0x400;
/** ifa_flags: an address configured by hand rather than learned (autoconf, DHCP lifetimes). */
export const IFA_F_PERMANENT = 0x80;
/** ifa_scope of an address valid everywhere (not host- or link-local). */
export const RT_SCOPE_UNIVERSE = 0;

const HEADER = 16; // struct nlmsghdr
const IFINFOMSG = 16; // struct ifinfomsg
const IFADDRMSG = 8; // struct ifaddrmsg

const align = (n: number) => (n + 3) & ~3;

/** One interface address as RTM_GETADDR reports it; `attributes` are re-sent as they came. */
export interface InterfaceAddress {
  family: number;
  prefixLength: number;
  flags: number;
  scope: number;
  /** IFA_ADDRESS, IFA_LOCAL and IFA_BROADCAST, by attribute type. */
  attributes: Map<number, Uint8Array<ArrayBuffer>>;
}

/** Renders an address for messages: "10.1.2.3/24" or "fd00::1/64". */
export function formatAddress(address: InterfaceAddress): string {
  const bytes = address.attributes.get(IFA_LOCAL) ?? address.attributes.get(IFA_ADDRESS);
  if (!bytes) return "?";
  const text = bytes.length === 4 ? [...bytes].join(".") : [...Array(bytes.length / 2).keys()]
    .map((i) => ((bytes[2 * i] << 8) | bytes[2 * i + 1]).toString(16)).join(":");
  return `${text}/${address.prefixLength}`;
}

function attribute(type: number, value: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(align(4 + value.length));
  const v = new DataView(out.buffer);
  v.setUint16(0, 4 + value.length, true);
  v.setUint16(2, type, true);
  out.set(value, 4);
  return out;
}

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, true);
  return out;
}

function ifinfomsg(index: number, flags = 0, change = 0): Uint8Array {
  const out = new Uint8Array(IFINFOMSG);
  const v = new DataView(out.buffer);
  v.setInt32(4, index, true);
  v.setUint32(8, flags, true);
  v.setUint32(12, change, true);
  return out;
}

function* attributes(
  buf: Uint8Array<ArrayBuffer>,
  start: number,
  end: number,
): Generator<[number, Uint8Array<ArrayBuffer>]> {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = start;
  while (at + 4 <= end) {
    const len = v.getUint16(at, true);
    if (len < 4) break;
    yield [v.getUint16(at + 2, true) & 0x3fff, buf.slice(at + 4, at + len)];
    at += align(len);
  }
}

/** An rtnetlink socket of the calling thread's network namespace. */
export class RtNetlink implements Disposable {
  readonly fd: number;
  #seq = 0;

  constructor() {
    this.fd = check(
      "socket",
      () => "domain=AF_NETLINK, type=SOCK_RAW|SOCK_CLOEXEC, protocol=NETLINK_ROUTE",
      () => libc().socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE),
    );
  }

  [Symbol.dispose](): void {
    libc().close(this.fd);
  }

  /**
   * Sends one request and collects the answers: the data messages of a dump (up to NLMSG_DONE),
   * or nothing but the acknowledgement. A negative acknowledgement throws, named by `what`.
   */
  #request(
    type: number,
    flags: number,
    parts: Uint8Array[],
    what: () => string,
  ): Uint8Array<ArrayBuffer>[] {
    const seq = ++this.#seq;
    const length = HEADER + parts.reduce((n, p) => n + p.length, 0);
    const message = new Uint8Array(length);
    const v = new DataView(message.buffer);
    v.setUint32(0, length, true);
    v.setUint16(4, type, true);
    v.setUint16(6, NLM_F_REQUEST | flags, true);
    v.setUint32(8, seq, true);
    let at = HEADER;
    for (const part of parts) {
      message.set(part, at);
      at += part.length;
    }
    // An unconnected netlink socket sends to the kernel (port 0).
    check("write", what, () => libc().write(this.fd, message, BigInt(length)));
    const answers: Uint8Array<ArrayBuffer>[] = [];
    const buf = new Uint8Array(1 << 16);
    for (;;) {
      const n = Number(check("read", what, () => libc().read(this.fd, buf, BigInt(buf.length))));
      const rv = new DataView(buf.buffer, 0, n);
      for (let off = 0; off + HEADER <= n;) {
        const len = rv.getUint32(off, true);
        const kind = rv.getUint16(off + 4, true);
        if (len < HEADER) throw new Error(`${what()}: malformed netlink answer`);
        if (rv.getUint32(off + 8, true) === seq) {
          if (kind === NLMSG_DONE) return answers;
          if (kind === NLMSG_ERROR) {
            const error = rv.getInt32(off + HEADER, true);
            if (error !== 0) throw new SyscallError("netlink", -error, what());
            return answers;
          }
          answers.push(buf.slice(off, off + len));
        }
        off += align(len);
      }
    }
  }

  /** The index of interface `name` (or checks that `index` exists); throws ENODEV when not found. */
  linkIndex(name: string, index = 0): number {
    const what = () => index ? `RTM_GETLINK index=${index}` : `RTM_GETLINK name=${name}`;
    const [answer] = this.#request(
      RTM_GETLINK,
      NLM_F_ACK,
      index ? [ifinfomsg(index)] : [ifinfomsg(0), attribute(IFLA_IFNAME, cString(name))],
      what,
    );
    if (!answer) throw new Error(`${what()}: no answer`);
    return new DataView(answer.buffer).getInt32(HEADER + 4, true);
  }

  /** Sets interface `index` up or down (RTM_NEWLINK with IFF_UP in ifi_change). */
  setUp(index: number, up: boolean): void {
    this.#request(
      RTM_NEWLINK,
      NLM_F_ACK,
      [ifinfomsg(index, up ? IFF_UP : 0, IFF_UP)],
      () => `RTM_NEWLINK index=${index}, ${up ? "up" : "down"}`,
    );
  }

  /** The addresses of interface `index`, every family. */
  addresses(index: number): InterfaceAddress[] {
    const answers = this.#request(
      RTM_GETADDR,
      NLM_F_DUMP,
      [new Uint8Array(IFADDRMSG)],
      () => `RTM_GETADDR index=${index}`,
    );
    const found: InterfaceAddress[] = [];
    for (const answer of answers) {
      if (new DataView(answer.buffer).getUint16(4, true) !== RTM_NEWADDR) continue;
      const v = new DataView(answer.buffer);
      if (v.getUint32(HEADER + 4, true) !== index) continue;
      const address: InterfaceAddress = {
        family: answer[HEADER],
        prefixLength: answer[HEADER + 1],
        flags: answer[HEADER + 2],
        scope: answer[HEADER + 3],
        attributes: new Map(),
      };
      for (const [type, value] of attributes(answer, HEADER + IFADDRMSG, answer.length)) {
        if (type === IFA_FLAGS) address.flags = new DataView(value.buffer).getUint32(0, true);
        if (type === IFA_ADDRESS || type === IFA_LOCAL || type === IFA_BROADCAST) {
          address.attributes.set(type, value);
        }
      }
      found.push(address);
    }
    return found;
  }

  /** Adds `address` to interface `index` (RTM_NEWADDR, create, fail if it exists). */
  addAddress(index: number, address: InterfaceAddress): void {
    const msg = new Uint8Array(IFADDRMSG);
    msg.set([address.family, address.prefixLength, 0, address.scope]);
    new DataView(msg.buffer).setUint32(4, index, true);
    const parts = [msg];
    for (const [type, value] of address.attributes) parts.push(attribute(type, value));
    parts.push(attribute(IFA_FLAGS, u32(address.flags & IFA_SETTABLE_FLAGS)));
    this.#request(
      RTM_NEWADDR,
      NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
      parts,
      () => `RTM_NEWADDR index=${index}, address=${formatAddress(address)}`,
    );
  }

  /**
   * Moves interface `index` into the network namespace of `netnsFd`, named `newName` there, in one
   * RTM_NEWLINK (rename and move together, so the name never clashes on the host).
   */
  moveToNamespace(index: number, newName: string, netnsFd: number): void {
    this.#request(
      RTM_NEWLINK,
      NLM_F_ACK,
      [
        ifinfomsg(index),
        attribute(IFLA_IFNAME, cString(newName)),
        attribute(IFLA_NET_NS_FD, u32(netnsFd)),
      ],
      () => `RTM_NEWLINK index=${index}, IFLA_IFNAME=${newName}, IFLA_NET_NS_FD=${netnsFd}`,
    );
  }
}
