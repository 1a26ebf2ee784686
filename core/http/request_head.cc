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
  // `at` is the CRLF before a line: first the request line's (a head starts
  // with one). The lines are walked to the blank line that ends the head, so
  // a line found counts only once the head is known to be whole.
  size_t at = data.find("\r\n");
  if (at == 0 || at == std::string_view::npos || name.empty()) return std::nullopt;
  std::optional<HeadLine> found;
  for (;;) {
    size_t line = at + 2;
    size_t eol = data.find("\r\n", line);
    if (eol == std::string_view::npos) return std::nullopt;  // the head is not whole
    if (eol == line) return found;                          // the blank line
    if (!found && eol - line > name.size() && data[line + name.size()] == ':' &&
        strncasecmp(data.data() + line, name.data(), name.size()) == 0) {
      size_t value = line + name.size() + 1;
      found = HeadLine{line, eol + 2, trim_field_value(data.substr(value, eol - value))};
    }
    at = eol;
  }
}

}  // namespace clusterlite
