/* hack/bench/maxrss.c: run ARGV, print the peak RSS (KiB, wait4's ru_maxrss) of it and of the
 * descendants it waited for. A tiny static program so that our own pre-exec memory (which
 * ru_maxrss would otherwise inherit through a vfork from a big parent such as Python) is not
 * what gets measured. Output on fd 3: "<maxrss_kib> <exit_status>\n". */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  fcntl(3, F_SETFD, FD_CLOEXEC); /* the container must not inherit our report pipe */
  pid_t pid = fork();
  if (pid < 0) return 2;
  if (pid == 0) {
    execv(argv[1], argv + 1);
    _exit(127);
  }
  int st;
  struct rusage ru;
  if (wait4(pid, &st, 0, &ru) < 0) return 2;
  dprintf(3, "%ld %d\n", ru.ru_maxrss, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
  return 0;
}
