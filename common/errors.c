/* Text for error codes of both spaces: project codes and -errno. */
#include "eddy/errors.h"

#include <string.h>

const char *eddy_strerror(int code)
{
    long c = code < 0 ? -(long)code : code;
    if (c == 0) {
        return "success";
    }
    switch (c) {
#define EDDY_ERRNO_CASE(name, text)                                                                \
    case name:                                                                                     \
        return text;
        EDDY_ERRNO_TABLE(EDDY_ERRNO_CASE)
#undef EDDY_ERRNO_CASE
    default:
        break;
    }
    if (c > 0 && c < EDDY_ERRNO_BASE_) {
        return strerror((int)c);
    }
    return "unknown error";
}
