/*
 * Differential probe: prints what the container process sees, one "key=value" line per fact, in
 * a form that does not depend on the runtime that started it (no mount ids, no device numbers of
 * the host's disks, no bundle paths). The differential harness (tests/differential/) compiles it
 * with `gcc -static`, runs it as process.args under runc and under Skiff with the same config and
 * compares the two outputs key by key.
 *
 * Arguments (all optional, written into process.args by the harness):
 *   --ns TYPE=INODE,...   the host's namespace inodes; each /proc/self/ns/TYPE is reported as
 *                         "host" when it is the same, "private" otherwise
 *   --sysctl KEY,...      sysctls to read back
 *   --path PATH,...       paths to try to read and write (masked, read-only, mount points)
 * Nothing is written to any file: a write check opens for writing and closes at once, so a
 * runtime that forgot to mask /proc/sysrq-trigger cannot make the probe hurt the host.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *ns_arg = "", *sysctl_arg = "", *path_arg = "";

static void out(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(const char *key, const char *fmt, ...) {
  va_list ap;
  printf("%s=", key);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
}

static const char *err_name(int e) {
  switch (e) {
  case 0: return "ok";
  case EPERM: return "EPERM";
  case ENOENT: return "ENOENT";
  case EACCES: return "EACCES";
  case EROFS: return "EROFS";
  case EISDIR: return "EISDIR";
  case ENOTDIR: return "ENOTDIR";
  case EINVAL: return "EINVAL";
  case EFAULT: return "EFAULT";
  case EBADF: return "EBADF";
  case ENOSYS: return "ENOSYS";
  case ESRCH: return "ESRCH";
  case EIO: return "EIO";
  case ENXIO: return "ENXIO";
  case ENODEV: return "ENODEV";
  case EXDEV: return "EXDEV";
  case EBUSY: return "EBUSY";
  case ENOTTY: return "ENOTTY";
  case ENOMEM: return "ENOMEM";
  case EOPNOTSUPP: return "EOPNOTSUPP";
  default: {
    static char buf[32];
    snprintf(buf, sizeof buf, "errno%d", e);
    return buf;
  }
  }
}

/* Calls fn for each comma-separated item of list. */
static void each(const char *list, void (*fn)(const char *item)) {
  char *copy = strdup(list), *save = NULL;
  for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) fn(item);
  free(copy);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void identity(void) {
  uid_t r, e, s;
  gid_t gr, ge, gs;
  getresuid(&r, &e, &s);
  getresgid(&gr, &ge, &gs);
  out("id.uid", "%u/%u/%u", r, e, s);
  out("id.gid", "%u/%u/%u", gr, ge, gs);
  gid_t groups[256];
  int n = getgroups(256, groups);
  printf("id.groups=");
  for (int i = 0; i < n; i++) printf("%s%u", i ? "," : "", groups[i]);
  putchar('\n');
  /* In the host's PID namespace the numbers differ from run to run: only 1 and 0 are facts. */
  out("id.pid", "%s", getpid() == 1 ? "1" : "not-1");
  out("id.ppid", "%s", getppid() == 0 ? "0" : "not-0");
}

/* Status lines that depend only on the configuration. */
static void status(void) {
  static const char *keys[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs",
                               "Seccomp", "Seccomp_filters", "Umask", "Speculation_Store_Bypass",
                               "SigIgn", "SigBlk", NULL};
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) {
    out("status", "%s", err_name(errno));
    return;
  }
  char line[256];
  while (fgets(line, sizeof line, f)) {
    char *colon = strchr(line, ':');
    if (!colon) continue;
    *colon = 0;
    for (const char **k = keys; *k; k++) {
      if (strcmp(line, *k) != 0) continue;
      char *v = colon + 1;
      while (*v == ' ' || *v == '\t') v++;
      v[strcspn(v, "\n")] = 0;
      char key[300];
      snprintf(key, sizeof key, "status.%s", line);
      out(key, "%s", v);
    }
  }
  fclose(f);
  out("prctl.securebits", "%d", prctl(PR_GET_SECUREBITS));
  out("prctl.dumpable", "%d", prctl(PR_GET_DUMPABLE));
  out("prctl.keepcaps", "%d", prctl(PR_GET_KEEPCAPS));
  int sig = 0;
  prctl(PR_GET_PDEATHSIG, &sig);
  out("prctl.pdeathsig", "%d", sig);
}

static const char *rlimit_names[] = {"CPU",   "FSIZE", "DATA",    "STACK",   "CORE",   "RSS",
                                     "NPROC", "NOFILE", "MEMLOCK", "AS",      "LOCKS",  "SIGPENDING",
                                     "MSGQUEUE", "NICE", "RTPRIO", "RTTIME"};

static void limits(void) {
  for (int i = 0; i < RLIM_NLIMITS && i < 16; i++) {
    struct rlimit rl;
    char key[64];
    snprintf(key, sizeof key, "rlimit.%s", rlimit_names[i]);
    if (getrlimit(i, &rl) != 0) {
      out(key, "%s", err_name(errno));
      continue;
    }
    char soft[32], hard[32];
    if (rl.rlim_cur == RLIM_INFINITY) strcpy(soft, "unlimited");
    else snprintf(soft, sizeof soft, "%llu", (unsigned long long)rl.rlim_cur);
    if (rl.rlim_max == RLIM_INFINITY) strcpy(hard, "unlimited");
    else snprintf(hard, sizeof hard, "%llu", (unsigned long long)rl.rlim_max);
    out(key, "%s/%s", soft, hard);
  }
}

static void process_misc(void) {
  char cwd[4096];
  out("cwd", "%s", getcwd(cwd, sizeof cwd) ? cwd : err_name(errno));
  struct utsname u;
  uname(&u);
  out("uts.hostname", "%s", u.nodename);
  out("uts.domainname", "%s", u.domainname);
  int count = 0;
  for (char **e = environ; *e; e++) count++;
  char **sorted = calloc(count + 1, sizeof *sorted);
  memcpy(sorted, environ, count * sizeof *sorted);
  qsort(sorted, count, sizeof *sorted, cmp_str);
  for (int i = 0; i < count; i++) {
    char *eq = strchr(sorted[i], '=');
    char key[256];
    snprintf(key, sizeof key, "env.%.*s", eq ? (int)(eq - sorted[i]) : (int)strlen(sorted[i]),
             sorted[i]);
    out(key, "%s", eq ? eq + 1 : "");
  }
  free(sorted);
  char buf[64] = "";
  int fd = open("/proc/self/oom_score_adj", O_RDONLY);
  if (fd >= 0) {
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    buf[strcspn(buf, "\n")] = 0;
    close(fd);
  } else {
    snprintf(buf, sizeof buf, "%s", err_name(errno));
  }
  out("oom_score_adj", "%s", buf);
  out("personality", "0x%x", personality(0xffffffff));
  int policy = sched_getscheduler(0);
  struct sched_param sp;
  sched_getparam(0, &sp);
  out("sched.policy", "%d", policy & ~SCHED_RESET_ON_FORK);
  out("sched.reset_on_fork", "%d", (policy & SCHED_RESET_ON_FORK) != 0);
  out("sched.priority", "%d", sp.sched_priority);
  errno = 0;
  int nice = getpriority(PRIO_PROCESS, 0);
  out("sched.nice", "%d", errno ? -1000 : nice);
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    printf("sched.affinity=");
    int first = 1;
    for (int c = 0; c < CPU_SETSIZE; c++) {
      if (!CPU_ISSET(c, &set)) continue;
      printf("%s%d", first ? "" : ",", c);
      first = 0;
    }
    putchar('\n');
  }
  /* ioprio_get(IOPRIO_WHO_PROCESS, 0) */
  long io = syscall(SYS_ioprio_get, 1, 0);
  out("ioprio", "%ld", io);
}

static void namespace_item(const char *item) {
  const char *eq = strchr(item, '=');
  if (!eq) return;
  char type[64], path[128], link[128], key[96];
  snprintf(type, sizeof type, "%.*s", (int)(eq - item), item);
  snprintf(path, sizeof path, "/proc/self/ns/%s", type);
  snprintf(key, sizeof key, "ns.%s", type);
  ssize_t n = readlink(path, link, sizeof link - 1);
  if (n < 0) {
    out(key, "%s", err_name(errno));
    return;
  }
  link[n] = 0;
  char *open = strchr(link, '[');
  unsigned long inode = open ? strtoul(open + 1, NULL, 10) : 0;
  out(key, "%s", inode == strtoul(eq + 1, NULL, 10) ? "host" : "private");
}

static void sysctl_item(const char *item) {
  char path[512], key[300], buf[256] = "";
  snprintf(path, sizeof path, "/proc/sys/%s", item);
  for (char *p = path + 10; *p; p++)
    if (*p == '.') *p = '/';
  snprintf(key, sizeof key, "sysctl.%s", item);
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    out(key, "%s", err_name(errno));
    return;
  }
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  buf[n > 0 ? n : 0] = 0;
  for (char *p = buf; *p; p++)
    if (*p == '\n' || *p == '\t') *p = ' ';
  while (n > 0 && buf[strlen(buf) - 1] == ' ') buf[strlen(buf) - 1] = 0;
  out(key, "%s", buf);
}

/* What a path allows: its type, whether it reads (empty or not), whether it opens for writing. */
static void path_item(const char *item) {
  char key[600];
  snprintf(key, sizeof key, "path.%s", item);
  struct stat st;
  if (lstat(item, &st) != 0) {
    out(key, "%s", err_name(errno));
    return;
  }
  const char *type = S_ISDIR(st.st_mode)    ? "dir"
                     : S_ISREG(st.st_mode)  ? "file"
                     : S_ISCHR(st.st_mode)  ? "chr"
                     : S_ISLNK(st.st_mode)  ? "link"
                     : S_ISBLK(st.st_mode)  ? "blk"
                     : S_ISFIFO(st.st_mode) ? "fifo"
                                            : "other";
  char readres[64], writeres[64];
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(item);
    if (!d) {
      snprintf(readres, sizeof readres, "%s", err_name(errno));
    } else {
      int entries = 0;
      struct dirent *de;
      while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) entries++;
      closedir(d);
      snprintf(readres, sizeof readres, "%s", entries ? "entries" : "empty");
    }
  } else {
    int fd = open(item, O_RDONLY | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
      snprintf(readres, sizeof readres, "%s", err_name(errno));
    } else {
      char buf[64];
      ssize_t n = read(fd, buf, sizeof buf);
      snprintf(readres, sizeof readres, "%s",
               n < 0 ? err_name(errno) : n == 0 ? "empty" : "data");
      close(fd);
    }
  }
  /* access(W_OK) reports a read-only mount (EROFS) for directories too; open() never writes. */
  snprintf(writeres, sizeof writeres, "%s",
           access(item, W_OK) == 0 ? "ok" : err_name(errno));
  if (!S_ISDIR(st.st_mode)) {
    int fd = open(item, O_WRONLY | O_NONBLOCK | O_NOCTTY);
    char openres[32];
    snprintf(openres, sizeof openres, "%s", fd < 0 ? err_name(errno) : "ok");
    if (fd >= 0) close(fd);
    out(key, "%s mode=%04o read=%s access_w=%s open_w=%s", type, st.st_mode & 07777, readres,
        writeres, openres);
  } else {
    out(key, "%s mode=%04o read=%s access_w=%s", type, st.st_mode & 07777, readres, writeres);
  }
}

/* Unescapes the octal escapes (\040) of a mountinfo field in place. */
static void unescape(char *s) {
  char *w = s;
  for (char *r = s; *r; r++) {
    if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] && r[3]) {
      *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
      r += 3;
    } else {
      *w++ = *r;
    }
  }
  *w = 0;
}

struct mount_line {
  char *point;
  char *text;
  int order;
};

static int cmp_mount(const void *a, const void *b) {
  const struct mount_line *x = a, *y = b;
  int c = strcmp(x->point, y->point);
  return c ? c : x->order - y->order;
}

/* Drops super options that name host-specific things (the overlay's layer directories). */
static void clean_super(char *opts, char *outbuf, size_t size) {
  outbuf[0] = 0;
  char *save = NULL;
  for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
    if (!strncmp(o, "lowerdir=", 9) || !strncmp(o, "upperdir=", 9) || !strncmp(o, "workdir=", 8))
      continue;
    if (outbuf[0]) strncat(outbuf, ",", size - strlen(outbuf) - 1);
    strncat(outbuf, o, size - strlen(outbuf) - 1);
  }
}

/*
 * The mount table: mount point, fstype, per-mount options, super options, propagation. Sorted by
 * mount point (stable, so stacked mounts keep their order); the mount over "/" is the rootfs.
 */
static void mounts(void) {
  FILE *f = fopen("/proc/self/mountinfo", "r");
  if (!f) {
    out("mounts", "%s", err_name(errno));
    return;
  }
  /* Static, like the other big buffers: a config may give the probe a stack of a few KiB. */
  static struct mount_line lines[512];
  int count = 0;
  static char line[4096];
  while (count < 512 && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    char *fields[64];
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, " ", &save); t && n < 64; t = strtok_r(NULL, " ", &save))
      fields[n++] = t;
    int dash = -1;
    for (int i = 6; i < n; i++)
      if (!strcmp(fields[i], "-")) dash = i;
    if (n < 7 || dash < 0 || dash + 3 >= n) continue;
    const char *prop = "private";
    for (int i = 6; i < dash; i++) {
      if (!strncmp(fields[i], "shared:", 7)) prop = "shared";
      else if (!strncmp(fields[i], "master:", 7) && strcmp(prop, "shared")) prop = "slave";
      else if (!strcmp(fields[i], "unbindable")) prop = "unbindable";
    }
    unescape(fields[4]);
    static char super[1024];
    clean_super(fields[dash + 3], super, sizeof super);
    static char text[2048];
    snprintf(text, sizeof text, "%s opts=%s super=%s %s", fields[dash + 1], fields[5], super, prop);
    lines[count].point = strdup(fields[4]);
    lines[count].text = strdup(text);
    lines[count].order = count;
    count++;
  }
  fclose(f);
  qsort(lines, count, sizeof lines[0], cmp_mount);
  for (int i = 0; i < count; i++) {
    int nth = 0;
    for (int j = i - 1; j >= 0 && !strcmp(lines[j].point, lines[i].point); j--) nth++;
    static char key[4200];
    if (nth) snprintf(key, sizeof key, "mount.%s#%d", lines[i].point, nth);
    else snprintf(key, sizeof key, "mount.%s", lines[i].point);
    out(key, "%s", lines[i].text);
  }
}

/* /dev and its subdirectories: type, mode, owner, device numbers, link targets. */
static void dev_dir(const char *dir, int depth) {
  DIR *d = opendir(dir);
  if (!d) {
    char key[300];
    snprintf(key, sizeof key, "dev.%s", dir);
    out(key, "%s", err_name(errno));
    return;
  }
  char **names = calloc(512, sizeof *names);
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)) && n < 512)
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) names[n++] = strdup(de->d_name);
  closedir(d);
  qsort(names, n, sizeof names[0], cmp_str);
  for (int i = 0; i < n; i++) {
    char path[1024], key[1100];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    snprintf(key, sizeof key, "dev.%s", path);
    struct stat st;
    if (lstat(path, &st) != 0) {
      out(key, "%s", err_name(errno));
      continue;
    }
    if (S_ISLNK(st.st_mode)) {
      char target[512];
      ssize_t len = readlink(path, target, sizeof target - 1);
      target[len > 0 ? len : 0] = 0;
      out(key, "link -> %s", target);
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      out(key, "%s %04o %u:%u %u:%u", S_ISCHR(st.st_mode) ? "chr" : "blk", st.st_mode & 07777,
          st.st_uid, st.st_gid, major(st.st_rdev), minor(st.st_rdev));
    } else if (S_ISDIR(st.st_mode)) {
      out(key, "dir %04o %u:%u", st.st_mode & 07777, st.st_uid, st.st_gid);
      if (depth < 2) dev_dir(path, depth + 1);
    } else {
      out(key, "%s %04o %u:%u size=%lld", S_ISREG(st.st_mode) ? "file" : "other",
          st.st_mode & 07777, st.st_uid, st.st_gid, (long long)st.st_size);
    }
    free(names[i]);
  }
  free(names);
}

/* The container's cgroup as it sees it: its path per hierarchy and a few limits. */
static void cgroups(void) {
  FILE *f = fopen("/proc/self/cgroup", "r");
  if (f) {
    static char line[1024];
    while (fgets(line, sizeof line, f)) {
      line[strcspn(line, "\n")] = 0;
      char *first = strchr(line, ':');
      char *second = first ? strchr(first + 1, ':') : NULL;
      if (!second) continue;
      *second = 0;
      char key[300];
      snprintf(key, sizeof key, "cgroup.%s", *(first + 1) ? first + 1 : "unified");
      out(key, "%s", second + 1);
    }
    fclose(f);
  }
  static const char *files[] = {
      "pids/pids.max", "memory/memory.limit_in_bytes", "cpu/cpu.shares", "cpu/cpu.cfs_quota_us",
      "cpu/cpu.cfs_period_us", "cpuset/cpuset.cpus", "devices/devices.list", "pids.max",
      "memory.max", "cpu.max", "cpu.weight", NULL};
  for (const char **file = files; *file; file++) {
    char path[256], key[300];
    static char buf[4096];
    snprintf(path, sizeof path, "/sys/fs/cgroup/%s", *file);
    int fd = open(path, O_RDONLY);
    if (fd < 0) continue;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    /* Lines in sorted order: devices.list lists the same rules in the order they were added. */
    char *lines[256];
    int count = 0;
    for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l && count < 256;
         l = strtok_r(NULL, "\n", &save))
      lines[count++] = l;
    qsort(lines, count, sizeof lines[0], cmp_str);
    snprintf(key, sizeof key, "cgroupfs.%s", *file);
    printf("%s=", key);
    for (int i = 0; i < count; i++) printf("%s%s", i ? ";" : "", lines[i]);
    putchar('\n');
  }
}

/* Open descriptors other than stdio: a runtime must not leak its own into the container. */
static void fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) {
    out("fds", "%s", err_name(errno));
    return;
  }
  int self = dirfd(d), listed = 0;
  struct dirent *de;
  static char text[2048];
  text[0] = 0;
  while ((de = readdir(d))) {
    int fd = atoi(de->d_name);
    if (de->d_name[0] == '.' || fd <= 2 || fd == self) continue;
    char path[64], target[256];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    target[n > 0 ? n : 0] = 0;
    char *bracket = strchr(target, '[');
    if (bracket) *bracket = 0; /* pipe:[123] -> pipe: */
    char item[300];
    snprintf(item, sizeof item, "%s%d:%s", listed++ ? "," : "", fd, target);
    strncat(text, item, sizeof text - strlen(text) - 1);
  }
  closedir(d);
  out("fds", "%s", text);
}

/*
 * Syscalls with arguments that make them fail harmlessly (or do nothing): what comes back shows the
 * seccomp filter and the capabilities together.
 */
static void syscalls(void) {
  struct {
    const char *name;
    long nr;
    long a0, a1, a2, a3, a4;
  } calls[] = {
      {"mount", SYS_mount, 0, 0, 0, 0, 0},
      {"umount2", SYS_umount2, 0, 0, 0, 0, 0},
      {"unshare0", SYS_unshare, 0, 0, 0, 0, 0},
      {"setns", SYS_setns, -1, 0, 0, 0, 0},
      {"keyctl", SYS_keyctl, 0, 0, 0, 0, 0},
      {"add_key", SYS_add_key, 0, 0, 0, 0, 0},
      {"bpf", SYS_bpf, -1, 0, 0, 0, 0},
      {"perf_event_open", SYS_perf_event_open, 0, 0, -1, -1, 0},
      {"userfaultfd", SYS_userfaultfd, -1, 0, 0, 0, 0},
      {"kcmp", SYS_kcmp, 0, 0, -1, 0, 0},
      {"open_by_handle_at", SYS_open_by_handle_at, -1, 0, 0, 0, 0},
      {"clock_settime", SYS_clock_settime, 0, 0, 0, 0, 0},
      {"swapon", SYS_swapon, 0, 0, 0, 0, 0},
      {"pivot_root", SYS_pivot_root, 0, 0, 0, 0, 0},
      {"reboot", SYS_reboot, 0, 0, 0, 0, 0},
      {"init_module", SYS_init_module, 0, 0, 0, 0, 0},
      {"ptrace_peek", SYS_ptrace, 1 /* PTRACE_PEEKTEXT */, -1, 0, 0, 0},
      {"chroot", SYS_chroot, 0, 0, 0, 0, 0},
      {"sethostname", SYS_sethostname, 0, -1, 0, 0, 0},
      {"mknodat", SYS_mknodat, -1, 0, 0, 0, 0},
      {"clone3", SYS_clone3, 0, 0, 0, 0, 0},
      {"close_range", 436, 100000, 100000, 0, 0, 0},
      {"io_uring_setup", 425, 0, 0, 0, 0, 0},
      {"personality_query", SYS_personality, 0xffffffff, 0, 0, 0, 0},
      {"getpid", SYS_getpid, 0, 0, 0, 0, 0},
  };
  for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
    char key[64];
    snprintf(key, sizeof key, "syscall.%s", calls[i].name);
    /* In a child: a profile may kill the caller (SCMP_ACT_KILL), which must not end the probe. */
    pid_t child = fork();
    if (child < 0) {
      out(key, "fork:%s", err_name(errno));
      continue;
    }
    if (child == 0) {
      errno = 0;
      long r = syscall(calls[i].nr, calls[i].a0, calls[i].a1, calls[i].a2, calls[i].a3,
                       calls[i].a4);
      _exit(r < 0 ? (errno & 0xff) : 0);
    }
    int st = 0;
    waitpid(child, &st, 0);
    if (WIFSIGNALED(st)) out(key, "killed:%d", WTERMSIG(st));
    else out(key, "%s", err_name(WEXITSTATUS(st)));
  }
}

/*
 * `probe --launch PROGRAM ARGS...`: resets every signal to its default action and execs PROGRAM.
 * The harness starts both runtimes through it, so neither inherits the dispositions of the Deno
 * that runs the harness (it ignores SIGPIPE and signals 32 and 33). A raw rt_sigaction, since
 * glibc's refuses the signals it reserves for itself.
 */
static int launch(char **argv) {
  struct {
    unsigned long handler, flags, restorer, mask;
  } action = {0, 0, 0, 0};
  for (int sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    syscall(SYS_rt_sigaction, sig, &action, NULL, 8);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execv(argv[0], argv);
  perror(argv[0]);
  return 127;
}

int main(int argc, char **argv) {
  if (argc > 2 && !strcmp(argv[1], "--launch")) return launch(argv + 2);
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--ns")) ns_arg = argv[i + 1];
    else if (!strcmp(argv[i], "--sysctl")) sysctl_arg = argv[i + 1];
    else if (!strcmp(argv[i], "--path")) path_arg = argv[i + 1];
  }
  identity();
  status();
  limits();
  process_misc();
  each(ns_arg, namespace_item);
  each(sysctl_arg, sysctl_item);
  each(path_arg, path_item);
  mounts();
  dev_dir("/dev", 0);
  cgroups();
  fds();
  fflush(stdout); /* before fork: the children must not print the buffer again */
  syscalls();
  fflush(stdout);
  return 0;
}
