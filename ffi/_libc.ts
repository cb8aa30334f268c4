/**
 * The one dlopen of libc for the core runtime. Each entry carries its C prototype.
 *
 * All calls are synchronous on purpose: namespaces, credentials and errno are per-thread, and a
 * `nonblocking` call would run on another thread (see shared/docs/platform-notes.md).
 * Other areas (seccomp, xattrs, sockets) may dlopen their own small tables in their own ffi/ file.
 */
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
  /** int setsid(void); */
  setsid: { parameters: [], result: "i32" },
  /** int ioctl(int fd, unsigned long request, void *arg); */
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

let library: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;

/** Returns the bound libc symbols, opening libc on first use. */
export function libc(): Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] {
  library ??= Deno.dlopen("libc.so.6", SYMBOLS);
  return library.symbols;
}
