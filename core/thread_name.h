// Names the calling thread (at most 15 characters) so top -H, perf and gdb
// tell the node's threads apart. Pistache's and librdkafka's own threads keep
// the names their libraries give them.
#pragma once

#include <pthread.h>

namespace clusterlite {

inline void name_this_thread(const char* name) { pthread_setname_np(pthread_self(), name); }

}  // namespace clusterlite
