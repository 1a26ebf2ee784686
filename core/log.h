// Process-wide logging: one line per message on stderr, as text or JSON lines.
#pragma once

#include <clusterlite/context.h>

#include <string>
#include <string_view>

namespace clusterlite::log {

enum class Format { kText, kJson };

void configure(LogLevel min_level, Format format);
bool enabled(LogLevel level);
// Writes "<time> <LEVEL> [<component>] <message>" (or a JSON object) atomically.
void write(LogLevel level, std::string_view component, std::string_view message);

inline void debug(std::string_view c, std::string_view m) { if (enabled(LogLevel::kDebug)) write(LogLevel::kDebug, c, m); }
inline void info(std::string_view c, std::string_view m) { write(LogLevel::kInfo, c, m); }
inline void warn(std::string_view c, std::string_view m) { write(LogLevel::kWarn, c, m); }
inline void error(std::string_view c, std::string_view m) { write(LogLevel::kError, c, m); }

// Parses "debug" | "info" | "warn" | "error"; false when unknown.
bool parse_level(std::string_view text, LogLevel& out);

}  // namespace clusterlite::log
