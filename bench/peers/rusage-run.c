/*
 * rusage-run: runs a program and reports what it cost, for bench/cross-peer.mjs (Proton C peers).
 *
 *   rusage-run PROGRAM [ARGS...]
 *
 * Runs PROGRAM as a child and, once it has ended, writes one line to stderr:
 *   RUSAGE <user us> <sys us> <peak RSS KiB> <start ns> <end ns> <exit status>
 * (CPU and peak RSS of the child from wait4; start and end in CLOCK_MONOTONIC nanoseconds, the clock
 * of Node's process.hrtime, taken just before fork and just after the child ended), then exits with
 * the child's status (128 + signal number if a signal ended it).
 *
 * Nothing outlives the bench: this process dies with its parent (PR_SET_PDEATHSIG) and the child
 * dies with this process; SIGTERM, SIGINT and SIGHUP are passed on to the child as SIGKILL.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile pid_t child = 0;

static void on_signal(int sig) {
  (void)sig;
  if (child > 0) kill(child, SIGKILL);
}

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: rusage-run PROGRAM [ARGS...]\n");
    return 64;
  }
  pid_t self = getpid();
  pid_t parent = getppid();
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) return 70;
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  long long start = now_ns();
  pid_t pid = fork();
  if (pid < 0) {
    perror("rusage-run: fork");
    return 71;
  }
  if (pid == 0) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != self) _exit(70);
    execvp(argv[1], argv + 1);
    perror("rusage-run: exec");
    _exit(127);
  }
  child = pid;
  int status = 0;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      perror("rusage-run: wait4");
      return 71;
    }
  }
  long long end = now_ns();
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
  fprintf(stderr, "RUSAGE %lld %lld %ld %lld %lld %d\n", (long long)ru.ru_utime.tv_sec * 1000000LL + ru.ru_utime.tv_usec,
          (long long)ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec, ru.ru_maxrss, start, end, code);
  return code;
}
