/*
 * A stand-in for the edgenas runner in tests of the qemu-user backend: it follows the
 * runner's command line and marker contract (targets/src/device.rs) but its "inference" is
 * a loop of a known number of instructions.
 *
 *   loop_guest bench MODEL [--input IN] --warmup W --repeat N --json
 *   loop_guest random
 *
 * MODEL is a text file: a decimal iteration count ITERS, or `fail` (print to stderr, exit
 * 1), or `nomarkers ITERS` (run without calling the markers), or `allmarked ITERS` (also
 * bracket the warm-up inferences, which spin 3 * ITERS). Each measured inference
 * calls edgenas_inference_begin, spins ITERS + EXTRA iterations of exactly two instructions
 * (`subs; b.ne` / `subs; bne`), and calls edgenas_inference_end; EXTRA (0..1023) is derived
 * from getrandom, getentropy, syscall(SYS_getrandom) and /dev/urandom, so counts repeat
 * only when all of them are deterministic. `random` prints those random words.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

volatile int edgenas_marker_sink;

__attribute__((noipa, used)) void edgenas_inference_begin(void)
{
    edgenas_marker_sink = 1;
}

__attribute__((noipa, used)) void edgenas_inference_end(void)
{
    edgenas_marker_sink = 2;
}

/* Exactly 2 instructions per iteration on both architectures. */
__attribute__((noipa)) static void spin(unsigned long n)
{
    if (n == 0) {
        return;
    }
#if defined(__aarch64__)
    __asm__ volatile("1: subs %0, %0, #1\n\tb.ne 1b" : "+r"(n) : : "cc");
#elif defined(__arm__)
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
#else
#error "loop_guest is for aarch64 and arm guests"
#endif
}

static void random_words(uint64_t words[4])
{
    memset(words, 0, 4 * sizeof words[0]);
    if (getrandom(&words[0], sizeof words[0], 0) != (ssize_t)sizeof words[0]) {
        perror("getrandom");
    }
    if (getentropy(&words[1], sizeof words[1]) != 0) {
        perror("getentropy");
    }
    if (syscall(SYS_getrandom, &words[2], sizeof words[2], 0) != (long)sizeof words[2]) {
        perror("syscall(SYS_getrandom)");
    }
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0 || read(fd, &words[3], sizeof words[3]) != (ssize_t)sizeof words[3]) {
        perror("/dev/urandom");
    }
    if (fd >= 0) {
        close(fd);
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: loop_guest bench MODEL [--input IN] --warmup W --repeat N --json | random\n");
    return 2;
}

int main(int argc, char **argv)
{
    uint64_t words[4];
    random_words(words);
    if (argc == 2 && strcmp(argv[1], "random") == 0) {
        printf("%016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %016" PRIx64 "\n", words[0], words[1], words[2],
               words[3]);
        return 0;
    }
    if (argc < 3 || strcmp(argv[1], "bench") != 0) {
        return usage();
    }
    long warmup = 0, repeat = 1;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc) {
            warmup = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
            repeat = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--input") == 0 && i + 1 < argc) {
            i++;
        } else if (strcmp(argv[i], "--json") != 0) {
            return usage();
        }
    }

    char model[64] = {0};
    FILE *f = fopen(argv[2], "r");
    if (f == NULL || fgets(model, sizeof model, f) == NULL) {
        fprintf(stderr, "loop_guest: cannot read model %s\n", argv[2]);
        return 1;
    }
    fclose(f);
    if (strncmp(model, "fail", 4) == 0) {
        fprintf(stderr, "loop_guest: this model fails on purpose\n");
        return 1;
    }
    int markers = strncmp(model, "nomarkers", 9) != 0;
    int mark_warmup = strncmp(model, "allmarked", 9) == 0;
    unsigned long iters = strtoul(isdigit((unsigned char)model[0]) ? model : model + 9, NULL, 10);
    unsigned long extra = (unsigned long)((words[0] ^ words[1] ^ words[2] ^ words[3]) % 1024);

    for (long i = 0; i < warmup; i++) {
        if (mark_warmup) {
            edgenas_inference_begin();
        }
        spin(3 * iters + extra);
        if (mark_warmup) {
            edgenas_inference_end();
        }
    }
    for (long i = 0; i < repeat; i++) {
        if (markers) {
            edgenas_inference_begin();
        }
        spin(iters + extra);
        if (markers) {
            edgenas_inference_end();
        }
    }
    printf("{\"unit\":\"ms\",\"median\":1.0,\"p10\":1.0,\"p90\":1.0,\"mean\":1.0,\"min\":1.0,\"max\":1.0,"
           "\"n\":%ld,\"warmup\":%ld,\"relative_spread\":0.0,\"converged\":true}\n",
           repeat, warmup);
    return 0;
}
