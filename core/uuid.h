// Random (version 4) UUIDs for event and entity ids.
#pragma once

#include <string>
#include <string_view>

namespace clusterlite {

// A new UUIDv4 in canonical lower-case form; thread-safe.
std::string new_uuid_v4();

}  // namespace clusterlite
