/*
 * edgenas instruction counter: a QEMU TCG plugin (plugin API v1, QEMU 7.x user mode).
 *
 * Counts the guest instructions executed between each call of the marker function
 * `edgenas_inference_begin` and the next call of `edgenas_inference_end` (one window per
 * begin/end pair), and the instructions of the whole process.
 *
 * Usage: qemu-aarch64 -plugin ./insn_count.so,out=COUNTS.txt GUEST ARGS...
 *
 * Contract of the output file, written once when the guest exits:
 *   - one line per completed window, in order: the decimal instruction count;
 *   - a last line `total N` with every instruction the process executed.
 * A missing or unterminated `total` line means the plugin did not finish writing.
 *
 * What a window counts: every instruction executed after the translation block that enters
 * `edgenas_inference_begin` (the marker function itself: a few straight-line instructions
 * ending in a return) and before the block that enters `edgenas_inference_end`; the
 * markers' own instructions are outside every window. A begin while a window is open and
 * an end without an open window are ignored; a window still open at exit is dropped.
 * Counting is per executed translation block (an inline add of the block's length), which
 * is exact for user-mode guests: blocks end at branches and syscalls. Markers are found by
 * symbol name (`qemu_plugin_insn_symbol`), so the guest binary must keep its symbol table
 * (not stripped).
 *
 * Threads: one global counter, updated without atomics; exact for single-threaded guests
 * (the edgenas runner), approximate if several guest threads run concurrently.
 *
 * Debian ships no qemu-plugin.h, so the few declarations used are written out below, as
 * published in QEMU 7.2's include/qemu/qemu-plugin.h (QEMU_PLUGIN_VERSION 1).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;

typedef struct qemu_info_t {
    const char *target_name;
    struct {
        int min;
        int cur;
    } version;
    bool system_emulation;
    union {
        struct {
            int smp_vcpus;
            int max_vcpus;
        } system;
    };
} qemu_info_t;

struct qemu_plugin_tb;
struct qemu_plugin_insn;

enum qemu_plugin_cb_flags {
    QEMU_PLUGIN_CB_NO_REGS,
    QEMU_PLUGIN_CB_R_REGS,
    QEMU_PLUGIN_CB_RW_REGS,
};

enum qemu_plugin_op {
    QEMU_PLUGIN_INLINE_ADD_U64,
};

typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr,
                                              uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const char *qemu_plugin_insn_symbol(const struct qemu_plugin_insn *insn);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static const char BEGIN_MARKER[] = "edgenas_inference_begin";
static const char END_MARKER[] = "edgenas_inference_end";

static uint64_t executed;
static uint64_t window_start;
static bool in_window;
static uint64_t *windows;
static size_t n_windows;
static size_t cap_windows;
static bool out_of_memory;
static char *out_path;

/* Userdata of a marker block: bit 0 is 1 for the end marker, the rest the block length. */
#define MARKER_DATA(is_end, n_insns) ((void *)(uintptr_t)(((uintptr_t)(n_insns) << 1) | (uintptr_t)(is_end)))

static void record_window(uint64_t count)
{
    if (n_windows == cap_windows) {
        size_t cap = cap_windows ? 2 * cap_windows : 64;
        uint64_t *grown = realloc(windows, cap * sizeof *grown);
        if (grown == NULL) {
            out_of_memory = true;
            return;
        }
        windows = grown;
        cap_windows = cap;
    }
    windows[n_windows++] = count;
}

/* Runs when a marker block starts executing. Marker blocks get no inline add: their length
 * is added here, after (begin) or before (end) the window, whatever order QEMU gives
 * callbacks and inline ops of one block. */
static void on_marker(unsigned int vcpu_index, void *userdata)
{
    uintptr_t data = (uintptr_t)userdata;
    uint64_t block_len = (uint64_t)(data >> 1);
    (void)vcpu_index;
    if ((data & 1) == 0) {
        executed += block_len;
        if (!in_window) {
            in_window = true;
            window_start = executed;
        }
        return;
    }
    if (in_window) {
        in_window = false;
        record_window(executed - window_start);
    }
    executed += block_len;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb);
    (void)id;
    if (n == 0) {
        return;
    }
    const char *symbol = qemu_plugin_insn_symbol(qemu_plugin_tb_get_insn(tb, 0));
    if (symbol != NULL && strcmp(symbol, BEGIN_MARKER) == 0) {
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_marker, QEMU_PLUGIN_CB_NO_REGS, MARKER_DATA(0, n));
    } else if (symbol != NULL && strcmp(symbol, END_MARKER) == 0) {
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_marker, QEMU_PLUGIN_CB_NO_REGS, MARKER_DATA(1, n));
    } else {
        qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &executed, n);
    }
}

static void write_counts(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    FILE *out = fopen(out_path, "w");
    if (out == NULL) {
        fprintf(stderr, "insn_count: cannot open %s\n", out_path);
        return;
    }
    if (out_of_memory) {
        fputs("error out of memory\n", out);
    }
    for (size_t i = 0; i < n_windows; i++) {
        fprintf(out, "%" PRIu64 "\n", windows[i]);
    }
    fprintf(out, "total %" PRIu64 "\n", executed);
    if (fclose(out) != 0) {
        fprintf(stderr, "insn_count: writing %s failed\n", out_path);
    }
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                               int argc, char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0 && argv[i][4] != '\0') {
            out_path = strdup(argv[i] + 4);
        } else {
            fprintf(stderr, "insn_count: unknown argument `%s` (expected out=PATH)\n", argv[i]);
            return -1;
        }
    }
    if (out_path == NULL) {
        fprintf(stderr, "insn_count: missing argument out=PATH\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, write_counts, NULL);
    return 0;
}
