/*
 * Reset and fault handlers of the edgenas QEMU firmware (mps2-an386 / mps2-an500): copies
 * .data from flash, zeroes .bss, enables the FPU (the code is built for the hard-float
 * ABI), runs main and exits through semihosting with its return value. A fault exits
 * with status 3 and a message.
 */
#include <stdint.h>

#include "semihosting.h"

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_top;
int main(void);

void edgenas_reset(void)
{
    const uint32_t *src = &__data_load;
    for (uint32_t *dst = &__data_start; dst < &__data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &__bss_start; dst < &__bss_end;) {
        *dst++ = 0;
    }
    volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
    *cpacr |= 0xFu << 20;
    __asm volatile("dsb\n\tisb" ::: "memory");
    edgenas_exit(main());
}

void edgenas_fault(void)
{
    edgenas_print("edgenas firmware: fault (HardFault, MemManage, BusFault or UsageFault)\n");
    edgenas_exit(3);
}

__attribute__((section(".vectors"), used)) static const void *const edgenas_vectors[16] = {
    &__stack_top, (const void *)edgenas_reset, (const void *)edgenas_fault, (const void *)edgenas_fault,
    (const void *)edgenas_fault, (const void *)edgenas_fault, (const void *)edgenas_fault, 0, 0, 0, 0,
    (const void *)edgenas_fault, (const void *)edgenas_fault, 0, (const void *)edgenas_fault,
    (const void *)edgenas_fault,
};
