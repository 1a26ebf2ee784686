// Reading one header line out of a request head before Pistache parses it.
//
// Pistache 0.0.5 parses every request header the same generic way: it copies
// the name and value into strings several times over, lower-cases the name
// for each of its hash lookups and keeps the header in a map node, about a
// microsecond a header on this kind of machine (measured: a GET that carries
// one more header costs the node 7-9% more CPU). A client that reads its own
// writes sends ClusterLite-Position with every request, so the node finds
// that line in the bytes of a new request itself, hands Pistache the request
// without it, and decodes the value straight from the bytes.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace clusterlite {

struct HeadLine {
  size_t begin = 0;        // the line's first byte in the data
  size_t end = 0;          // one past the CRLF that ends it
  std::string_view value;  // its value, without the whitespace around it
};

// The size of the head of the request that `data` starts with: its request
// line and header lines through the blank line that ends them; 0 when `data`
// does not hold the whole head.
size_t head_size(std::string_view data);

// The first header line called `name` (compared ignoring ASCII case) in the
// head of the request that `data` starts with; nullopt when `data` does not
// hold that whole head or the head has no such line. Only lines between the
// request line and the blank line count: nothing in a body, or in a request
// after the first, is looked at.
std::optional<HeadLine> find_header_line(std::string_view data, std::string_view name);

// A header's value without the spaces and tabs around it, which are not
// part of it (RFC 9110, 5.5); Pistache keeps those after the value.
std::string_view trim_field_value(std::string_view value);

}  // namespace clusterlite
