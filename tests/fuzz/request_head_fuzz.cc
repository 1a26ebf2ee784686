// Fuzzes find_header_line (core/http/request_head.h), which reads the
// ClusterLite-Position line out of the bytes a client sent before Pistache
// parses them. The properties: it reads nothing outside the bytes (the
// sanitizers), and it finds exactly the line a plain reading of the head
// finds: the first line, after the request line and before the blank line
// that ends the head, whose name is ClusterLite-Position in any case.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "http/request_head.h"

namespace {

constexpr std::string_view kName = "ClusterLite-Position";

bool same_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// The same search written the plain way: the head split into its lines.
std::optional<clusterlite::HeadLine> reference(std::string_view data) {
  size_t head_end = data.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return std::nullopt;
  std::string_view head = data.substr(0, head_end + 2);  // every line with its CRLF
  size_t at = head.find("\r\n") + 2;                     // past the request line
  if (at == 2) return std::nullopt;                      // an empty request line
  while (at < head.size()) {
    size_t eol = head.find("\r\n", at);
    std::string_view line = head.substr(at, eol - at);
    size_t colon = line.find(':');
    if (colon != std::string_view::npos && same_ignoring_case(line.substr(0, colon), kName)) {
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
      return clusterlite::HeadLine{at, eol + 2, value};
    }
    at = eol + 2;
  }
  return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  // A copy of exactly `size` bytes, so that reading past them is caught.
  std::string copy(reinterpret_cast<const char*>(bytes), size);
  std::string_view data(copy);
  size_t head = data.find("\r\n\r\n");
  if (clusterlite::head_size(data) != (head == std::string_view::npos ? 0 : head + 4)) std::abort();
  auto found = clusterlite::find_header_line(data, kName);
  auto expected = reference(data);
  if (found.has_value() != expected.has_value()) std::abort();
  if (!found) return 0;
  if (found->begin != expected->begin || found->end != expected->end) std::abort();
  if (found->value.data() != expected->value.data() || found->value.size() != expected->value.size()) std::abort();
  return 0;
}
