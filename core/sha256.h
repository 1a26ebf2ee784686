// SHA-256 of bytes, as 64 lowercase hex digits (OpenSSL's libcrypto).
#pragma once

#include <string>
#include <string_view>

namespace clusterlite {

std::string sha256_hex(std::string_view bytes);

}  // namespace clusterlite
