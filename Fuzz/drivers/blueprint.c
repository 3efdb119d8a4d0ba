// The libFuzzer entry point for the blueprint target (Sources/WeftFuzzTargets).
#include <stddef.h>
#include <stdint.h>

int weft_fuzz_blueprint(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return weft_fuzz_blueprint(data, size); }
