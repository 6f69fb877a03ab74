/* hack/bench/drv.c: the pidfd helper hyperfine runs for the multi-command scenarios of
 * hack/bench.sh (issue 8). Static, tiny, no allocation in the timed paths; every runtime gets the
 * same helper, so its own cost (~0.1 ms) is the same for all of them.
 *
 *   drv next W                  prepare the next bundle: W/b<seq>/config.json from W/template.json
 *                               (each "@ID@" replaced by <name>-<seq>), W/cur -> b<seq>, W/id; the
 *                               previous bundle dir is removed. <name> is W's basename.
 *   drv next-many W N           N bundles W/t<i>/ (ids <name>-t<seq>-<i>) for one throughput run
 *   drv lifecycle RT ROOT W     create (pid file) -> pidfd_open(init) -> start -> poll(pidfd) -> delete
 *   drv throughput RT ROOT W N P  N lifecycles over W/t<i>, by P forked workers
 *   drv rss RT ROOT W           peak RSS (KiB, wait4's ru_maxrss) of `create`, printed; then delete
 *   drv phases RT ROOT W        one lifecycle, printing the wall ms of create, start, the wait, delete
 *   drv tcreate RT ROOT W       next bundle, then the wall ms of `create` printed; then delete --force
 *   drv populate RT ROOT W FROM TO P  containers <name>-<i>, FROM <= i < TO, bundles W/s<i> (from
 *                               W/template.json), created and started by P workers, left running
 *   drv depopulate RT ROOT W FROM TO P  delete --force of those, by P workers
 *   drv time K CMD...           run CMD K times, printing each run's wall ms and its CPU ms (user +
 *                               system, wait4's rusage of CMD and what it waited for; non-zero exit: fail)
 *
 * Every create is checked: the init named in the pid file must sit in a cgroup whose path ends in
 * the container's id (bench.sh's configs use cgroupsPath /husk-bench/<id>), or drv fails. So a
 * runtime that exits 0 without making the container is never timed as a success.
 * A runtime failing makes the helper exit non-zero (hyperfine then stops with the command line). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void die(const char *what) {
    fprintf(stderr, "drv: %s: %s\n", what, errno ? strerror(errno) : "failed");
    exit(2);
}

static int devnull = -1;

/* posix_spawn argv with stdin/stdout on /dev/null (stderr kept for the runtime's errors);
 * returns its exit status, and its rusage in *ru when given. */
static int run(char *const argv[], struct rusage *ru) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, devnull, 0);
    posix_spawn_file_actions_adddup2(&fa, devnull, 1);
    pid_t pid;
    int e = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e) {
        errno = e;
        die(argv[0]);
    }
    int st;
    struct rusage r;
    if (wait4(pid, &st, 0, &r) < 0) die("wait4");
    if (ru) *ru = r;
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    return 128 + WTERMSIG(st);
}

static void must(char *const argv[]) {
    if (run(argv, NULL) != 0) {
        errno = 0;
        fprintf(stderr, "drv: %s %s failed\n", argv[0], argv[3]);
        exit(1);
    }
}

static void rm_bundle(const char *dir);
static void make_bundle(const char *w, const char *dir, const char *id);

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* The init `pid` of container `id` must be in a cgroup ".../<id>" (the pids hierarchy's line of
 * /proc/PID/cgroup, or any line: all of bench.sh's configs give every hierarchy the same path). */
static void check_cgroup(int pid, const char *id) {
    char p[64], buf[8192];
    snprintf(p, sizeof p, "/proc/%d/cgroup", pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    ssize_t k = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    if (fd >= 0) close(fd);
    if (k <= 0) {
        fprintf(stderr, "drv: %s: init %d: cannot read %s\n", id, pid, p);
        exit(1);
    }
    buf[k] = 0;
    size_t idl = strlen(id);
    for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
        size_t n = strlen(l);
        if (n > idl && !strcmp(l + n - idl, id) && l[n - idl - 1] == '/') return;
    }
    fprintf(stderr, "drv: %s: init %d is not in the container's cgroup\n", id, pid);
    exit(1);
}

static void read_file(const char *path, char *buf, size_t n) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die(path);
    ssize_t k = read(fd, buf, n - 1);
    if (k < 0) die(path);
    close(fd);
    while (k > 0 && (buf[k - 1] == '\n' || buf[k - 1] == ' ')) k--;
    buf[k] = 0;
}

static void write_file(const char *path, const char *data, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, data, n) != (ssize_t)n || close(fd) < 0) die(path);
}

/* One lifecycle of the container `id` in bundle `b`; with `ms`, the wall ms of create, start,
 * the wait for the exit, delete. */
static void lifecycle_t(char *rt, char *root, char *b, char *id, double *ms) {
    char pidfile[PATH_MAX], pidbuf[32];
    snprintf(pidfile, sizeof pidfile, "%s/pid", b);
    double t0 = now_ms();
    char *create[] = {rt, "--root", root, "create", "--bundle", b, "--pid-file", pidfile, id, NULL};
    must(create);
    double t1 = now_ms();
    read_file(pidfile, pidbuf, sizeof pidbuf);
    int pfd = syscall(SYS_pidfd_open, atoi(pidbuf), 0);
    if (pfd < 0) die("pidfd_open");
    check_cgroup(atoi(pidbuf), id);
    double t2 = now_ms();
    char *start[] = {rt, "--root", root, "start", id, NULL};
    must(start);
    double t3 = now_ms();
    struct pollfd p = {.fd = pfd, .events = POLLIN};
    while (poll(&p, 1, -1) < 0)
        if (errno != EINTR) die("poll");
    close(pfd);
    double t4 = now_ms();
    char *del[] = {rt, "--root", root, "delete", id, NULL};
    must(del);
    double t5 = now_ms();
    if (ms) {
        ms[0] = t1 - t0;
        ms[1] = t3 - t2;
        ms[2] = t4 - t3;
        ms[3] = t5 - t4;
    }
}

static void lifecycle(char *rt, char *root, char *b, char *id) { lifecycle_t(rt, root, b, id, NULL); }

/* Create and start <name>-<i> for FROM <= i < TO (i = k, k + par, ... in worker k). */
static void populate_one(char *rt, char *root, const char *w, int i) {
    char b[PATH_MAX], id[128], pidfile[PATH_MAX], pidbuf[32];
    snprintf(b, sizeof b, "%s/s%d", w, i);
    snprintf(id, sizeof id, "%s-%d", strrchr(w, '/') ? strrchr(w, '/') + 1 : w, i);
    rm_bundle(b);
    make_bundle(w, b, id);
    snprintf(pidfile, sizeof pidfile, "%s/pid", b);
    char *create[] = {rt, "--root", root, "create", "--bundle", b, "--pid-file", pidfile, id, NULL};
    must(create);
    read_file(pidfile, pidbuf, sizeof pidbuf);
    check_cgroup(atoi(pidbuf), id);
    char *start[] = {rt, "--root", root, "start", id, NULL};
    must(start);
}

static void depopulate_one(char *rt, char *root, const char *w, int i) {
    char id[128];
    snprintf(id, sizeof id, "%s-%d", strrchr(w, '/') ? strrchr(w, '/') + 1 : w, i);
    char *del[] = {rt, "--root", root, "delete", "--force", id, NULL};
    run(del, NULL);
}

/* fn(i) for FROM <= i < TO by `par` forked workers; non-zero if any worker failed. */
static int parallel(void (*fn)(char *, char *, const char *, int), char *rt, char *root, const char *w, int from,
                    int to, int par) {
    for (int k = 0; k < par; k++) {
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            for (int i = from + k; i < to; i += par) fn(rt, root, w, i);
            _exit(0);
        }
    }
    int bad = 0, st;
    while (wait(&st) > 0) bad |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    return bad;
}

static void rm_bundle(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[PATH_MAX];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(dir);
}

static long bump_seq(const char *w) {
    char p[PATH_MAX], buf[32] = "0";
    snprintf(p, sizeof p, "%s/seq", w);
    if (access(p, F_OK) == 0) read_file(p, buf, sizeof buf);
    long seq = atol(buf) + 1;
    int n = snprintf(buf, sizeof buf, "%ld\n", seq);
    write_file(p, buf, n);
    return seq;
}

/* W/template.json with every "@ID@" replaced by id, written to dir/config.json. */
static void make_bundle(const char *w, const char *dir, const char *id) {
    static char tpl[1 << 16], out[1 << 17];
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/template.json", w);
    read_file(p, tpl, sizeof tpl);
    size_t o = 0, idl = strlen(id);
    for (const char *s = tpl; *s;) {
        if (!strncmp(s, "@ID@", 4)) {
            memcpy(out + o, id, idl);
            o += idl;
            s += 4;
        } else {
            out[o++] = *s++;
        }
        if (o + idl >= sizeof out) die("template too large");
    }
    if (mkdir(dir, 0755) < 0) die(dir);
    snprintf(p, sizeof p, "%s/config.json", dir);
    write_file(p, out, o);
}

static const char *base(const char *w) {
    const char *s = strrchr(w, '/');
    return s ? s + 1 : w;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: see the comment at the top of hack/bench/drv.c\n");
        return 2;
    }
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0) die("/dev/null");
    const char *mode = argv[1];
    char p[PATH_MAX], id[128], cur[PATH_MAX];
    if (!strcmp(mode, "next")) {
        const char *w = argv[2];
        long seq = bump_seq(w);
        snprintf(p, sizeof p, "%s/b%ld", w, seq - 1);
        rm_bundle(p);
        snprintf(id, sizeof id, "%s-%ld", base(w), seq);
        snprintf(p, sizeof p, "%s/b%ld", w, seq);
        make_bundle(w, p, id);
        snprintf(cur, sizeof cur, "%s/cur.new", w);
        snprintf(p, sizeof p, "b%ld", seq);
        unlink(cur);
        if (symlink(p, cur) < 0) die(cur);
        snprintf(p, sizeof p, "%s/cur", w);
        if (rename(cur, p) < 0) die(p);
        snprintf(p, sizeof p, "%s/id", w);
        write_file(p, id, strlen(id));
        return 0;
    }
    if (!strcmp(mode, "next-many") && argc == 4) {
        const char *w = argv[2];
        int n = atoi(argv[3]);
        long seq = bump_seq(w);
        for (int i = 0; i < n; i++) {
            snprintf(p, sizeof p, "%s/t%d", w, i);
            rm_bundle(p);
            snprintf(id, sizeof id, "%s-t%ld-%d", base(w), seq, i);
            make_bundle(w, p, id);
            snprintf(p, sizeof p, "%s/t%d/id", w, i);
            write_file(p, id, strlen(id));
        }
        return 0;
    }
    if (!strcmp(mode, "time") && argc >= 4) {
        int k = atoi(argv[2]);
        for (int i = 0; i < k; i++) {
            struct rusage ru;
            double t0 = now_ms();
            int st = run(argv + 3, &ru);
            double t1 = now_ms();
            if (st != 0) {
                fprintf(stderr, "drv: %s %s failed (%d)\n", argv[3], argc > 6 ? argv[6] : "", st);
                return 1;
            }
            double cpu = ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 + ru.ru_stime.tv_sec * 1e3 +
                         ru.ru_stime.tv_usec / 1e3;
            printf("%.3f %.3f\n", t1 - t0, cpu);
        }
        return 0;
    }
    if (argc < 5) {
        fprintf(stderr, "drv: %s needs RUNTIME ROOT W\n", mode);
        return 2;
    }
    char *rt = argv[2], *root = argv[3], *w = argv[4];
    if ((!strcmp(mode, "populate") || !strcmp(mode, "depopulate")) && argc == 8) {
        int from = atoi(argv[5]), to = atoi(argv[6]), par = atoi(argv[7]);
        return parallel(!strcmp(mode, "populate") ? populate_one : depopulate_one, rt, root, w, from, to, par);
    }
    if (!strcmp(mode, "lifecycle") || !strcmp(mode, "rss") || !strcmp(mode, "phases") || !strcmp(mode, "tcreate")) {
        snprintf(p, sizeof p, "%s/id", w);
        read_file(p, id, sizeof id);
        snprintf(cur, sizeof cur, "%s/cur", w);
        if (!strcmp(mode, "lifecycle")) {
            lifecycle(rt, root, cur, id);
            return 0;
        }
        if (!strcmp(mode, "phases")) {
            double ms[4];
            lifecycle_t(rt, root, cur, id, ms);
            printf("%.3f %.3f %.3f %.3f\n", ms[0], ms[1], ms[2], ms[3]);
            return 0;
        }
        if (!strcmp(mode, "tcreate")) {
            char pidfile[PATH_MAX], pidbuf[32];
            snprintf(pidfile, sizeof pidfile, "%s/pid", cur);
            char *create[] = {rt, "--root", root, "create", "--bundle", cur, "--pid-file", pidfile, id, NULL};
            double t0 = now_ms();
            int st = run(create, NULL);
            double t1 = now_ms();
            if (st == 0) {
                read_file(pidfile, pidbuf, sizeof pidbuf);
                check_cgroup(atoi(pidbuf), id);
            }
            char *del[] = {rt, "--root", root, "delete", "--force", id, NULL};
            run(del, NULL);
            if (st != 0) {
                fprintf(stderr, "drv: %s create failed (%d)\n", rt, st);
                return 1;
            }
            printf("%.3f\n", t1 - t0);
            return 0;
        }
        char *create[] = {rt, "--root", root, "create", "--bundle", cur, id, NULL};
        struct rusage ru;
        int st = run(create, &ru);
        char *del[] = {rt, "--root", root, "delete", "--force", id, NULL};
        run(del, NULL);
        if (st != 0) {
            fprintf(stderr, "drv: %s create failed (%d)\n", rt, st);
            return 1;
        }
        printf("%ld\n", ru.ru_maxrss);
        return 0;
    }
    if (!strcmp(mode, "throughput") && argc == 7) {
        int n = atoi(argv[5]), par = atoi(argv[6]);
        for (int k = 0; k < par; k++) {
            pid_t pid = fork();
            if (pid < 0) die("fork");
            if (pid == 0) {
                for (int i = k; i < n; i += par) {
                    snprintf(cur, sizeof cur, "%s/t%d", w, i);
                    snprintf(p, sizeof p, "%s/id", cur);
                    read_file(p, id, sizeof id);
                    lifecycle(rt, root, cur, id);
                }
                _exit(0);
            }
        }
        int bad = 0, st;
        while (wait(&st) > 0) bad |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
        return bad;
    }
    fprintf(stderr, "drv: unknown mode %s\n", mode);
    return 2;
}
