// Linux calls that Swift cannot reach through its Glibc module, made through syscall(2) (variadic,
// so not callable from Swift): the pidfd calls (glibc before 2.36 has no wrappers) and fallocate
// (declared only under _GNU_SOURCE, which would make this module's C types differ from NIO's).
// Each returns -1 with errno set (ENOSYS for pidfds on kernels before 5.3).
#include <errno.h>
#include <linux/falloc.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

static inline int mm_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static inline int mm_pidfd_send_signal(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, (void *)0, 0);
}

// Allocates blocks past the end of a file without changing its size, so later appends land in
// space already held even when the file system has filled up meanwhile.
static inline int mm_reserve_after_end(int fd, off_t offset, off_t length) {
    return (int)syscall(SYS_fallocate, fd, FALLOC_FL_KEEP_SIZE, (long long)offset, (long long)length);
}
