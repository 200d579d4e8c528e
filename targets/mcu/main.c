/*
 * The edgenas measurement harness: reads `runs.bin` (two little-endian uint32: warm-up
 * and measured inferences; absent: 0 and 1), then for each inference reads `input.bin`
 * (EDGENAS_INPUT_BYTES int8; absent: all zeros) straight into the model's arena
 * (edgenas_input_buffer(): the inference overwrites it, and no second input buffer costs
 * SRAM) and runs it between calls of edgenas_inference_begin and edgenas_inference_end
 * (the instruction counter's markers; with EDGENAS_PROFILE_LAYERS, around every op
 * instead). The last output goes to `output.bin`.
 * Exit status: 0, or 2 for a short input and 4 for an unwritable output.
 */
#include <stdint.h>
#include <string.h>

#include "model.h"
#include "semihosting.h"

volatile uint32_t edgenas_marker;

__attribute__((noinline, used)) void edgenas_inference_begin(void)
{
    edgenas_marker = 1;
}

__attribute__((noinline, used)) void edgenas_inference_end(void)
{
    edgenas_marker = 2;
}

#ifdef EDGENAS_PROFILE_LAYERS
void edgenas_layer_begin(int op)
{
    (void)op;
    edgenas_inference_begin();
}

void edgenas_layer_end(int op)
{
    (void)op;
    edgenas_inference_end();
}
#endif

/* 0, or 2 when input.bin is shorter than the model's input. */
static int edgenas_load_input(void)
{
    int8_t *in = edgenas_input_buffer();
    int32_t fd = edgenas_open("input.bin", 1);
    if (fd < 0) {
        memset(in, 0, EDGENAS_INPUT_BYTES);
        return 0;
    }
    uint32_t got = edgenas_read(fd, in, EDGENAS_INPUT_BYTES);
    edgenas_close(fd);
    if (got != EDGENAS_INPUT_BYTES) {
        edgenas_print("edgenas firmware: input.bin is shorter than EDGENAS_INPUT_BYTES\n");
        return 2;
    }
    return 0;
}

int main(void)
{
    uint32_t runs[2] = {0, 1};
    int32_t fd = edgenas_open("runs.bin", 1);
    if (fd >= 0) {
        edgenas_read(fd, runs, sizeof runs);
        edgenas_close(fd);
    }
    for (uint32_t i = 0; i < runs[0] + runs[1]; i++) {
        if (edgenas_load_input() != 0) {
            return 2;
        }
#ifndef EDGENAS_PROFILE_LAYERS
        edgenas_inference_begin();
#endif
        edgenas_invoke(edgenas_input_buffer(), 0);
#ifndef EDGENAS_PROFILE_LAYERS
        edgenas_inference_end();
#endif
    }
    fd = edgenas_open("output.bin", 5);
    if (fd < 0 || edgenas_write(fd, edgenas_output_buffer(), EDGENAS_OUTPUT_BYTES) != 0) {
        edgenas_print("edgenas firmware: cannot write output.bin\n");
        return 4;
    }
    edgenas_close(fd);
    return 0;
}
