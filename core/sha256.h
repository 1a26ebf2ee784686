// SHA-256 of bytes (OpenSSL's libcrypto): at once as 64 lowercase hex digits,
// or over a stream of pieces (Sha256).
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace clusterlite {

std::string sha256_hex(std::string_view bytes);

// A digest computed piece by piece, for files too large to hold in memory.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, size_t size);
  // The digest of everything given to update(); call once.
  std::array<unsigned char, 32> finish();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

// RFC 9530's `Repr-Digest` value of a SHA-256 digest: "sha-256=:<base64>:".
std::string repr_digest(const std::array<unsigned char, 32>& digest);
// The SHA-256 digest a `Repr-Digest` value names, or nullopt when it names
// none or is malformed.
std::optional<std::array<unsigned char, 32>> parse_repr_digest(std::string_view value);
// 64 lowercase hex digits.
std::string to_hex(const std::array<unsigned char, 32>& digest);

}  // namespace clusterlite
