/* Reset handler and vector table of the STM32 example: .data from flash, .bss zeroed,
 * the FPU on (hard-float ABI), then main. Faults stop in a loop for the debugger. */
#include <stdint.h>

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
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm volatile("dsb\n\tisb" ::: "memory");
    main();
    for (;;) {
    }
}

void edgenas_fault(void)
{
    for (;;) {
    }
}

__attribute__((section(".vectors"), used)) static const void *const edgenas_vectors[16] = {
    &__stack_top, (const void *)edgenas_reset, (const void *)edgenas_fault, (const void *)edgenas_fault,
    (const void *)edgenas_fault, (const void *)edgenas_fault, (const void *)edgenas_fault, 0, 0, 0, 0,
    (const void *)edgenas_fault, (const void *)edgenas_fault, 0, (const void *)edgenas_fault,
    (const void *)edgenas_fault,
};
