// Non-x86 builds: the wide tables alias the portable one so the dispatcher links everywhere.
#include "common.h"
namespace qv {
#if !defined(__x86_64__) && !defined(_M_X64)
const OpTable opsAvx2 = opsGeneric;
const OpTable opsAvx512 = opsGeneric;
#endif
}  // namespace qv
