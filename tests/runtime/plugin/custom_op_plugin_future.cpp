// A custom-op plugin built for a later custom-op plugin API (version 999):
// the runtime must refuse it, naming both versions, before calling into it.
#include <cstdint>

extern "C" __attribute__((visibility("default"))) uint32_t kiln_custom_op_plugin_api_version() { return 999; }
extern "C" __attribute__((visibility("default"))) void kiln_custom_op_plugin_register(void*) { __builtin_trap(); }
