#include "sha256.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace clusterlite {

namespace {

std::string hex(const unsigned char* digest, size_t length) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (size_t i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

}  // namespace

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 failed");
  return hex(digest, length);
}

struct Sha256::Context {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Context() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : context_(std::make_unique<Context>()) {
  if (!context_->ctx || EVP_DigestInit_ex(context_->ctx, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 failed");
}

Sha256::~Sha256() = default;

void Sha256::update(const void* data, size_t size) {
  if (EVP_DigestUpdate(context_->ctx, data, size) != 1) throw std::runtime_error("SHA-256 failed");
}

std::array<unsigned char, 32> Sha256::finish() {
  std::array<unsigned char, 32> out{};
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(context_->ctx, out.data(), &length) != 1 || length != out.size())
    throw std::runtime_error("SHA-256 failed");
  return out;
}

std::string repr_digest(const std::array<unsigned char, 32>& digest) {
  unsigned char b64[48] = {};
  int n = EVP_EncodeBlock(b64, digest.data(), static_cast<int>(digest.size()));
  return "sha-256=:" + std::string(reinterpret_cast<char*>(b64), static_cast<size_t>(n)) + ":";
}

std::optional<std::array<unsigned char, 32>> parse_repr_digest(std::string_view value) {
  // A dictionary of algorithms; only sha-256 is looked for.
  constexpr std::string_view kKey = "sha-256=:";
  auto at = value.find(kKey);
  if (at == std::string_view::npos) return std::nullopt;
  auto start = at + kKey.size();
  auto end = value.find(':', start);
  if (end == std::string_view::npos || end - start != 44) return std::nullopt;  // 32 bytes in base64
  unsigned char raw[34] = {};
  if (EVP_DecodeBlock(raw, reinterpret_cast<const unsigned char*>(value.data() + start), 44) != 33)
    return std::nullopt;  // EVP_DecodeBlock counts the padding as a zero byte
  std::array<unsigned char, 32> out{};
  std::copy(raw, raw + 32, out.begin());
  return out;
}

std::string to_hex(const std::array<unsigned char, 32>& digest) { return hex(digest.data(), digest.size()); }

}  // namespace clusterlite
