/*
 * One table of project error codes. Functions that can fail return 0 or a
 * negative code: either -errno (same space as UV_E*) or -EDDY_E*. Project
 * codes start far above any errno so the two spaces never overlap.
 */
#ifndef EDDY_ERRORS_H
#define EDDY_ERRORS_H

#define EDDY_ERRNO_TABLE(X)                                                                        \
    X(EDDY_EMALFORMED, "malformed input")                                                          \
    X(EDDY_ECORRUPT, "corrupt data on disk")                                                       \
    X(EDDY_ENOTLEADER, "not the leader")                                                           \
    X(EDDY_ETHROTTLED, "throughput exceeded")                                                      \
    X(EDDY_ETOOBIG, "exceeds a size limit")                                                        \
    X(EDDY_ENOTFOUND, "not found")                                                                 \
    X(EDDY_EEXISTS, "already exists")                                                              \
    X(EDDY_EINUSE, "resource in use")                                                              \
    X(EDDY_EINVAL, "invalid argument")                                                             \
    X(EDDY_EEXPIRED, "expired")                                                                    \
    X(EDDY_EUNAVAILABLE, "temporarily unavailable")                                                \
    X(EDDY_ESHUTDOWN, "shutting down")                                                             \
    X(EDDY_EUNKNOWN, "outcome unknown")                                                            \
    X(EDDY_EFULL, "queue full")                                                                    \
    X(EDDY_ELIMIT, "limit exceeded")                                                               \
    X(EDDY_ETIMEDOUT, "timed out")                                                                 \
    X(EDDY_EHYDRATING, "replica is hydrating")                                                     \
    X(EDDY_ENOTHOSTED, "group not hosted on this node")                                            \
    X(EDDY_ECLOSED, "shard is closed")                                                             \
    X(EDDY_ESUPERSEDED, "superseded by a newer subscription")

enum eddy_errno {
    EDDY_ERRNO_BASE_ = 10000,
#define EDDY_ERRNO_ENUM(name, text) name,
    EDDY_ERRNO_TABLE(EDDY_ERRNO_ENUM)
#undef EDDY_ERRNO_ENUM
        EDDY_ERRNO_END_
};

/* Text for a negative code of either space; never NULL. */
const char *eddy_strerror(int code);

#endif
