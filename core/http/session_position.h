// A client's session position: how far into the log its own writes reached,
// so that any node it reaches next can wait until it has applied them
// (read-your-writes through a load balancer).
//
// Write answers carry it in the `ClusterLite-Position` header and the
// `clusterlite_position` cookie; a request that brings it back (either, or
// both: they are merged) waits on the node that serves it until that node
// has applied the position. The token is opaque to clients. It reads
// "1.<topic>.<partition>-<next offset>_<partition>-<next offset>...", where
// <topic> is a hash of the log's name: a token of another log (a cluster
// built again on a new topic) is recognised and ignored.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace clusterlite {

inline constexpr std::string_view kPositionHeader = "ClusterLite-Position";
inline constexpr std::string_view kPositionCookie = "clusterlite_position";
inline constexpr size_t kMaxPositionBytes = 1024;
// How long the cookie lives; a session idle for longer reads without waiting.
inline constexpr int kPositionCookieSeconds = 3600;

// Per partition, the offset after the session's latest write there.
using Position = std::map<int32_t, int64_t>;

// Keeps, per partition, the larger of the two offsets.
void merge_position(Position& into, const Position& other);

// The token of `position` in log `topic`.
std::string encode_position(const std::string& topic, const Position& position);

enum class PositionToken {
  kValid,       // `out` holds its position
  kOtherLog,    // well formed, but of another log: to be ignored
  kMalformed,   // not a token (or over kMaxPositionBytes)
};
// Reads a token for log `topic` into `out` (merged with what `out` holds).
PositionToken decode_position(std::string_view token, const std::string& topic, Position& out);

}  // namespace clusterlite
