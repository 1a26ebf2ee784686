#include "http/request_head.h"

#include <strings.h>

namespace clusterlite {

std::string_view trim_field_value(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

size_t head_size(std::string_view data) {
  size_t blank = data.find("\r\n\r\n");
  return blank == std::string_view::npos ? 0 : blank + 4;
}

std::optional<HeadLine> find_header_line(std::string_view data, std::string_view name) {
  size_t head = head_size(data);
  if (head == 0 || name.empty()) return std::nullopt;
  size_t head_end = head - 4;
  // `at` is the CRLF before a line: first the request line's (a head starts
  // with one); the CRLF at `head_end` is the last header line's, followed by
  // the blank line.
  size_t request_line_end = data.find("\r\n");
  if (request_line_end == 0) return std::nullopt;
  for (size_t at = request_line_end; at < head_end;) {
    size_t line = at + 2;
    size_t eol = data.find("\r\n", line);  // head_end at the latest
    if (eol - line > name.size() && data[line + name.size()] == ':' &&
        strncasecmp(data.data() + line, name.data(), name.size()) == 0) {
      size_t value = line + name.size() + 1;
      return HeadLine{line, eol + 2, trim_field_value(data.substr(value, eol - value))};
    }
    at = eol;
  }
  return std::nullopt;
}

}  // namespace clusterlite
