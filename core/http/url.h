// The URL pieces the API reads and writes: percent-decoding of path
// segments and query values, percent-encoding for the links the node makes,
// and the check of an entity id taken from a URL.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace clusterlite {

// An entity id is 1 to this many bytes.
inline constexpr size_t kMaxIdBytes = 256;

// Percent-decodes a path segment (a '+' stays a '+'); false on a malformed escape.
bool percent_decode(std::string_view in, std::string& out);

// Percent-decodes a query parameter's value ('+' is a space); false on a malformed escape.
bool decode_query_value(std::string_view in, std::string& out);

// Percent-encodes everything but RFC 3986's unreserved characters.
std::string url_encode(std::string_view s);

// An entity id from the URL: decoded, 1..kMaxIdBytes bytes of UTF-8 without
// control characters or '/'. Anything else is a 400 before any plugin sees it.
bool decode_id(std::string_view raw, std::string& id);

}  // namespace clusterlite
