// Random (version 4) UUIDs for event and entity ids.
#pragma once

#include <string>
#include <string_view>

namespace clusterlite {

// A new UUIDv4 in canonical lower-case form; thread-safe.
std::string new_uuid_v4();

// True for the canonical 8-4-4-4-12 hexadecimal form (any version).
bool is_uuid(std::string_view text);

}  // namespace clusterlite
