// Strict JSON parsing shared by the HTTP layer and the event decoder.
#pragma once

#include <rapidjson/document.h>

#include <string>
#include <string_view>

namespace clusterlite {

// Parses `text` as one JSON value into `doc`: valid UTF-8, no trailing bytes,
// nesting at most `max_depth` deep, no object with the same key twice.
// Returns "" on success, otherwise a one-line reason.
std::string parse_json_strict(std::string_view text, rapidjson::Document& doc, int max_depth = 32);

// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(std::string_view text);

// `text` with every byte that does not start a valid UTF-8 sequence (as
// is_valid_utf8 reads it) replaced by U+FFFD: for text cut at a byte count,
// or taken from a request, that goes into a JSON answer.
std::string to_valid_utf8(std::string_view text);

// Serializes a value to compact JSON text.
std::string to_json(const rapidjson::Value& value);

}  // namespace clusterlite
