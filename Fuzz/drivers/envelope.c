// The libFuzzer entry point for the envelope target (Sources/WeftFuzzTargets).
#include <stddef.h>
#include <stdint.h>

int weft_fuzz_envelope(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return weft_fuzz_envelope(data, size); }
