/* Host harness of tests/mcu.rs: runs the generated model once, like the firmware does. */
#include <stdio.h>

#include "model.h"

int main(int argc, char **argv)
{
    static int8_t in[EDGENAS_INPUT_BYTES], out[EDGENAS_OUTPUT_BYTES];
    if (argc != 3) {
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f || fread(in, 1, sizeof in, f) != sizeof in) {
        return 2;
    }
    fclose(f);
    if (edgenas_invoke(in, out) != 0) {
        return 3;
    }
    f = fopen(argv[2], "wb");
    if (!f || fwrite(out, 1, sizeof out, f) != sizeof out) {
        return 4;
    }
    return fclose(f) == 0 ? 0 : 4;
}
