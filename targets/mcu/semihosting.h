/*
 * Arm semihosting calls (BKPT 0xAB on M-profile), as QEMU implements them: the firmware's
 * only I/O. Files are opened relative to the emulator's working directory.
 */
#ifndef EDGENAS_SEMIHOSTING_H
#define EDGENAS_SEMIHOSTING_H

#include <stdint.h>

#define EDGENAS_SYS_OPEN 0x01
#define EDGENAS_SYS_CLOSE 0x02
#define EDGENAS_SYS_WRITE0 0x04
#define EDGENAS_SYS_WRITE 0x05
#define EDGENAS_SYS_READ 0x06
#define EDGENAS_SYS_EXIT_EXTENDED 0x20
#define EDGENAS_ADP_STOPPED_APPLICATION_EXIT 0x20026

static inline int32_t edgenas_semihost(int32_t op, const void *arg)
{
    register int32_t r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static inline uint32_t edgenas_strlen(const char *s)
{
    uint32_t n = 0;
    while (s[n]) {
        n++;
    }
    return n;
}

/* mode 1: "rb", 5: "wb". Returns a handle, or -1. */
static inline int32_t edgenas_open(const char *name, int32_t mode)
{
    uint32_t args[3] = {(uint32_t)name, (uint32_t)mode, edgenas_strlen(name)};
    return edgenas_semihost(EDGENAS_SYS_OPEN, args);
}

static inline void edgenas_close(int32_t fd)
{
    uint32_t args[1] = {(uint32_t)fd};
    edgenas_semihost(EDGENAS_SYS_CLOSE, args);
}

/* Bytes read (SYS_READ returns the bytes it did not read). */
static inline uint32_t edgenas_read(int32_t fd, void *buf, uint32_t len)
{
    uint32_t args[3] = {(uint32_t)fd, (uint32_t)buf, len};
    return len - (uint32_t)edgenas_semihost(EDGENAS_SYS_READ, args);
}

/* 0 when every byte was written. */
static inline int32_t edgenas_write(int32_t fd, const void *buf, uint32_t len)
{
    uint32_t args[3] = {(uint32_t)fd, (uint32_t)buf, len};
    return edgenas_semihost(EDGENAS_SYS_WRITE, args);
}

static inline void edgenas_print(const char *s)
{
    edgenas_semihost(EDGENAS_SYS_WRITE0, s);
}

static inline __attribute__((noreturn)) void edgenas_exit(int32_t code)
{
    uint32_t args[2] = {EDGENAS_ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    for (;;) {
        edgenas_semihost(EDGENAS_SYS_EXIT_EXTENDED, args);
    }
}

#endif
