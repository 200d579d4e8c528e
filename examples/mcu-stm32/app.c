/* The STM32 example application: runs the edgenas model forever on a fixed input written
 * straight into its arena, and keeps the cycles of the last inference (DWT cycle counter)
 * and the index of the largest output for a debugger to read. */
#include <stdint.h>

#include "model.h"

volatile uint32_t edgenas_cycles;
volatile int32_t edgenas_top_class;

#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define DWT_LAR (*(volatile uint32_t *)0xE0001FB0u)

int main(void)
{
    DEMCR |= 1u << 24;
    DWT_LAR = 0xC5ACCE55u;
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;
    for (;;) {
        int8_t *in = edgenas_input_buffer();
        for (int32_t i = 0; i < EDGENAS_INPUT_BYTES; i++) {
            in[i] = (int8_t)((i * 37) & 0x7f) - 64;
        }
        uint32_t start = DWT_CYCCNT;
        edgenas_invoke(in, 0);
        edgenas_cycles = DWT_CYCCNT - start;
        const int8_t *out = edgenas_output_buffer();
        int32_t best = 0;
        for (int32_t i = 1; i < EDGENAS_OUTPUT_BYTES; i++) {
            best = out[i] > out[best] ? i : best;
        }
        edgenas_top_class = best;
    }
}
