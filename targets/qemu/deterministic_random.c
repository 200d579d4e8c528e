/*
 * edgenas deterministic randomness: an LD_PRELOAD shim for the GUEST program (built with
 * the target's cross gcc, loaded by the guest's dynamic linker: `qemu-aarch64 -E
 * LD_PRELOAD=/path/deterministic_random.so GUEST`).
 *
 * Contract: every process that loads it sees the same byte stream from every randomness
 * source it covers, so hash-map seeds (Rust's RandomState, tract's maps) and therefore
 * instruction counts repeat exactly from run to run. The stream is xorshift64* from a fixed
 * seed, shared by all sources in the order they are called. Covered:
 *   - getrandom(3) (glibc's wrapper, also found by dlsym as Rust's std does) and
 *     syscall(SYS_getrandom, ...);
 *   - getentropy(3);
 *   - read(2)/__read_chk of a descriptor opened on /dev/urandom or /dev/random through
 *     open/open64/openat/openat64 (fopen goes through them inside glibc only via internal
 *     calls, which are not interposed; Rust and tract do not use it).
 * Not covered: raw `svc` instructions that bypass libc, and AT_RANDOM (pass qemu `-seed`).
 *
 * Never use this outside measurement: it makes randomness predictable by design.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_TRACKED_FDS 1024

static uint64_t state = 0x9e3779b97f4a7c15ULL;
static unsigned char random_fds[MAX_TRACKED_FDS];

static void fill(void *buf, size_t len)
{
    unsigned char *out = buf;
    while (len > 0) {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        uint64_t word = state * 0x2545f4914f6cdd1dULL;
        size_t n = len < sizeof word ? len : sizeof word;
        memcpy(out, &word, n);
        out += n;
        len -= n;
    }
}

static int is_random_device(const char *path)
{
    return path != NULL && (strcmp(path, "/dev/urandom") == 0 || strcmp(path, "/dev/random") == 0);
}

static int track(int fd, const char *path)
{
    if (fd >= 0 && fd < MAX_TRACKED_FDS) {
        random_fds[fd] = (unsigned char)is_random_device(path);
    }
    return fd;
}

static int tracked(int fd)
{
    return fd >= 0 && fd < MAX_TRACKED_FDS && random_fds[fd];
}

typedef long (*syscall_fn)(long, ...);
typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef ssize_t (*read_fn)(int, void *, size_t);
typedef int (*close_fn)(int);

/* The next definition of `name` (libc's), looked up once per call site. */
#define NEXT(type, name)                                                                           \
    ({                                                                                             \
        static type cached;                                                                        \
        if (cached == NULL) {                                                                      \
            cached = (type)dlsym(RTLD_NEXT, name);                                                 \
        }                                                                                          \
        cached;                                                                                    \
    })

ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
    (void)flags;
    fill(buf, len);
    return (ssize_t)len;
}

int getentropy(void *buf, size_t len)
{
    if (len > 256) {
        errno = EIO;
        return -1;
    }
    fill(buf, len);
    return 0;
}

long syscall(long number, ...)
{
    va_list ap;
    long a[6];
    va_start(ap, number);
    for (int i = 0; i < 6; i++) {
        a[i] = va_arg(ap, long);
    }
    va_end(ap);
    if (number == SYS_getrandom) {
        fill((void *)a[0], (size_t)a[1]);
        return a[1];
    }
    syscall_fn real = NEXT(syscall_fn, "syscall");
    if (real == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

static mode_t mode_arg(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

#define DEFINE_OPEN(name)                                                                          \
    int name(const char *path, int flags, ...)                                                     \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, flags);                                                                       \
        mode_t mode = mode_arg(flags, ap);                                                         \
        va_end(ap);                                                                                \
        open_fn real = NEXT(open_fn, #name);                                                       \
        if (real == NULL) {                                                                        \
            errno = ENOSYS;                                                                        \
            return -1;                                                                             \
        }                                                                                          \
        return track(real(path, flags, mode), path);                                               \
    }

#define DEFINE_OPENAT(name)                                                                        \
    int name(int dirfd, const char *path, int flags, ...)                                          \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, flags);                                                                       \
        mode_t mode = mode_arg(flags, ap);                                                         \
        va_end(ap);                                                                                \
        openat_fn real = NEXT(openat_fn, #name);                                                   \
        if (real == NULL) {                                                                        \
            errno = ENOSYS;                                                                        \
            return -1;                                                                             \
        }                                                                                          \
        return track(real(dirfd, path, flags, mode), path);                                        \
    }

DEFINE_OPEN(open)
DEFINE_OPEN(open64)
DEFINE_OPENAT(openat)
DEFINE_OPENAT(openat64)

ssize_t read(int fd, void *buf, size_t len)
{
    if (tracked(fd)) {
        fill(buf, len);
        return (ssize_t)len;
    }
    read_fn real = NEXT(read_fn, "read");
    if (real == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return real(fd, buf, len);
}

ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
    (void)buflen;
    return read(fd, buf, len);
}

int close(int fd)
{
    if (fd >= 0 && fd < MAX_TRACKED_FDS) {
        random_fds[fd] = 0;
    }
    close_fn real = NEXT(close_fn, "close");
    if (real == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return real(fd);
}
