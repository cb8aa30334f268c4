/**
 * The one dlopen of libc for the core runtime. Each entry carries its C prototype.
 *
 * All calls are synchronous on purpose: namespaces, credentials and errno are per-thread, and a
 * `nonblocking` call would run on another thread (see shared/docs/platform-notes.md).
 * Other areas (seccomp, xattrs, sockets) may dlopen their own small tables in their own ffi/ file.
 */
import { ERRNO, SyscallError } from "./errno.ts";
import { registerImmediateExit } from "./exit.ts";

const SYMBOLS = {
  /** int *__errno_location(void); */
  __errno_location: { parameters: [], result: "pointer" },
  /** long syscall(long number, ...); called with six integer arguments (x86_64/aarch64 ABI). */
  syscall: {
    parameters: ["i64", "i64", "i64", "i64", "i64", "i64", "i64"],
    result: "i64",
  },
  /** int unshare(int flags); */
  unshare: { parameters: ["i32"], result: "i32" },
  /** int setns(int fd, int nstype); */
  setns: { parameters: ["i32", "i32"], result: "i32" },
  /** int open(const char *path, int flags, mode_t mode); */
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  /** int openat(int dirfd, const char *path, int flags, mode_t mode); */
  openat: { parameters: ["i32", "buffer", "i32", "u32"], result: "i32" },
  /** int close(int fd); */
  close: { parameters: ["i32"], result: "i32" },
  /** ssize_t read(int fd, void *buf, size_t count); */
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  /** ssize_t write(int fd, const void *buf, size_t count); */
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  /** int pipe2(int pipefd[2], int flags); */
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  /** int fcntl(int fd, int cmd, long arg); */
  fcntl: { parameters: ["i32", "i32", "i64"], result: "i32" },
  /** int flock(int fd, int operation); */
  flock: { parameters: ["i32", "i32"], result: "i32" },
  /** int poll(struct pollfd *fds, nfds_t nfds, int timeout); */
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  /** int mount(const char *src, const char *target, const char *fstype, unsigned long flags, const void *data); */
  mount: { parameters: ["buffer", "buffer", "buffer", "u64", "buffer"], result: "i32" },
  /** int umount2(const char *target, int flags); */
  umount2: { parameters: ["buffer", "i32"], result: "i32" },
  /** int chdir(const char *path); */
  chdir: { parameters: ["buffer"], result: "i32" },
  /** int fchdir(int fd); */
  fchdir: { parameters: ["i32"], result: "i32" },
  /** int chroot(const char *path); */
  chroot: { parameters: ["buffer"], result: "i32" },
  /** char *getcwd(char *buf, size_t size); */
  getcwd: { parameters: ["buffer", "usize"], result: "pointer" },
  /** int mknod(const char *path, mode_t mode, dev_t dev); */
  mknod: { parameters: ["buffer", "u32", "u64"], result: "i32" },
  /** int mkfifo(const char *path, mode_t mode); */
  mkfifo: { parameters: ["buffer", "u32"], result: "i32" },
  /** int lchown(const char *path, uid_t owner, gid_t group); */
  lchown: { parameters: ["buffer", "u32", "u32"], result: "i32" },
  /** int sethostname(const char *name, size_t len); */
  sethostname: { parameters: ["buffer", "usize"], result: "i32" },
  /** int setdomainname(const char *name, size_t len); */
  setdomainname: { parameters: ["buffer", "usize"], result: "i32" },
  /** int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5); */
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  /** int prlimit(pid_t pid, int resource, const struct rlimit *new, struct rlimit *old); */
  prlimit: { parameters: ["i32", "i32", "buffer", "buffer"], result: "i32" },
  /** mode_t umask(mode_t mask); */
  umask: { parameters: ["u32"], result: "u32" },
  /** int execve(const char *path, char *const argv[], char *const envp[]); */
  execve: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
  /** int kill(pid_t pid, int sig); */
  kill: { parameters: ["i32", "i32"], result: "i32" },
  /** pid_t getpid(void); */
  getpid: { parameters: [], result: "i32" },
  /** uid_t geteuid(void); */
  geteuid: { parameters: [], result: "u32" },
  /** int fstatfs(int fd, struct statfs *buf); */
  fstatfs: { parameters: ["i32", "buffer"], result: "i32" },
  /** int faccessat(int dirfd, const char *path, int mode, int flags); */
  faccessat: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  /** int setsid(void); */
  setsid: { parameters: [], result: "i32" },
  /** int ioctl(int fd, unsigned long request, void *arg); */
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  /** int ioctl(int fd, unsigned long request, unsigned long arg); the integer-argument form. */
  ioctl_int: { name: "ioctl", parameters: ["i32", "u64", "u64"], result: "i32" },
  /** int dup3(int oldfd, int newfd, int flags); */
  dup3: { parameters: ["i32", "i32", "i32"], result: "i32" },
  /** int tcgetattr(int fd, struct termios *t); */
  tcgetattr: { parameters: ["i32", "buffer"], result: "i32" },
  /** int tcsetattr(int fd, int actions, const struct termios *t); */
  tcsetattr: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  /** void cfmakeraw(struct termios *t); */
  cfmakeraw: { parameters: ["buffer"], result: "void" },
  /** int dup(int fd); */
  dup: { parameters: ["i32"], result: "i32" },
  /** int socket(int domain, int type, int protocol); */
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  /** int memfd_create(const char *name, unsigned int flags); */
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
  /** pid_t waitpid(pid_t pid, int *wstatus, int options); */
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  /** int socketpair(int domain, int type, int protocol, int sv[2]); */
  socketpair: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  /** int connect(int fd, const struct sockaddr *addr, socklen_t len); */
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  /** int bind(int fd, const struct sockaddr *addr, socklen_t len); */
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  /** int listen(int fd, int backlog); */
  listen: { parameters: ["i32", "i32"], result: "i32" },
  /** int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags); */
  accept4: { parameters: ["i32", "pointer", "pointer", "i32"], result: "i32" },
  /** ssize_t sendmsg(int fd, const struct msghdr *msg, int flags); */
  sendmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  /** ssize_t recvmsg(int fd, struct msghdr *msg, int flags); */
  recvmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
} as const satisfies Deno.ForeignLibraryInterface;

/** void _exit(int status); */
const EXIT = { parameters: ["i32"], result: "void" } as const satisfies Deno.ForeignFunction;

let dl:
  | Deno.DynamicLibrary<{ dlsym: { parameters: ["pointer", "buffer"]; result: "pointer" } }>
  | undefined;

/**
 * Returns libc functions for `definitions`, each bound on its first call (dlsym + UnsafeFnPointer).
 * Deno.dlopen binds every listed symbol up front at ~0.15 ms each, which a CLI that uses a handful
 * of them per start-up cannot afford (docs/benchmarks.md). Every ffi/ module uses this.
 */
export function lazyLibc<S extends Deno.ForeignLibraryInterface>(
  definitions: S,
): Deno.DynamicLibrary<S>["symbols"] {
  const lazy: Record<string, unknown> = {};
  for (const name of Object.keys(definitions)) {
    Object.defineProperty(lazy, name, {
      configurable: true,
      get() {
        // errno's accessor is bound before any other function can be called and fail: binding
        // runs dlsym(3), which may change errno, so it must not happen between a failure and its
        // errno read (ffi/errno.ts).
        errnoLocation();
        const definition = definitions[name] as Deno.ForeignFunction;
        const fn = bindFunction(definition.name?.toString() ?? name, definition);
        Object.defineProperty(lazy, name, { value: fn });
        return fn;
      },
    });
  }
  return lazy as Deno.DynamicLibrary<S>["symbols"];
}

function bindFunction(
  name: string,
  definition: Deno.ForeignFunction,
): (...a: unknown[]) => unknown {
  if (dl === undefined) {
    dl = Deno.dlopen("libc.so.6", {
      dlsym: { parameters: ["pointer", "buffer"], result: "pointer" },
    });
    // Bound when the CLI ends the process (cli.ts): ~0.1 ms then, nothing for a library user.
    registerImmediateExit((code) => (bindFunction("_exit", EXIT) as (code: number) => void)(code));
  }
  const address = dl.symbols.dlsym(null, new TextEncoder().encode(`${name}\0`));
  if (address === null) throw new Error(`libc has no symbol ${name}`);
  const pointer = new Deno.UnsafeFnPointer(
    address as Deno.PointerObject<typeof definition>,
    definition,
  );
  return (...args: unknown[]) => (pointer.call as (...a: unknown[]) => unknown)(...args);
}

let errnoFn: (() => Deno.PointerValue) | undefined;

/** `int *__errno_location(void)`, bound once (see lazyLibc). */
export function errnoLocation(): () => Deno.PointerValue {
  errnoFn ??= bindFunction("__errno_location", SYMBOLS.__errno_location) as () => Deno.PointerValue;
  return errnoFn;
}

let symbols: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] | undefined;

/** Returns the core libc symbols; each is bound on its first call. */
export function libc(): Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] {
  symbols ??= lazyLibc(SYMBOLS);
  return symbols;
}

/** Returns the calling thread's errno; read it right after the failing call. */
export function errno(): number {
  const ptr = errnoLocation()();
  return ptr === null ? 0 : new Deno.UnsafePointerView(ptr).getInt32();
}

/**
 * Runs `call` until it does not fail with EINTR; throws a SyscallError for -1.
 * @returns the call's non-negative result.
 */
export function check<T extends number | bigint>(
  syscall: string,
  detail: () => string,
  call: () => T,
): T {
  for (;;) {
    const result = call();
    if (Number(result) !== -1) return result;
    const value = errno();
    if (value === ERRNO.EINTR) continue;
    throw new SyscallError(syscall, value, detail());
  }
}
