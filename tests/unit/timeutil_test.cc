// Unit tests of RFC 3339 formatting and parsing (no I/O).
#include "timeutil.h"

#include <gtest/gtest.h>

using namespace clusterlite;
using namespace std::chrono;

TEST(TimeUtil, ParsesTheOriginalGoFormat) {
  // Go's time.RFC3339Nano with a local offset, as the original system wrote.
  auto t = parse_rfc3339("2024-11-30T15:04:05.123456789+01:00");
  ASSERT_TRUE(t);
  EXPECT_EQ(format_rfc3339(*t), "2024-11-30T14:04:05.123456Z");
  EXPECT_TRUE(parse_rfc3339("2024-11-30T15:04:05Z"));
  EXPECT_TRUE(parse_rfc3339("2024-02-29T00:00:00-00:30"));
}

TEST(TimeUtil, RejectsMalformedTimes) {
  for (const char* bad : {"", "2024-11-30", "2024-11-30T15:04:05", "2024-13-01T00:00:00Z", "2023-02-29T00:00:00Z",
                          "2024-11-30T15:04:05.Z", "2024-11-30T15:04:05.1234567891Z", "2024-11-30T15:04:05Zjunk",
                          "2024-11-30 15:04:05Z", "2024-11-30T25:00:00Z"})
    EXPECT_FALSE(parse_rfc3339(bad)) << bad;
}

TEST(TimeUtil, RoundTrips) {
  auto now = time_point_cast<microseconds>(system_clock::now());
  auto parsed = parse_rfc3339(format_rfc3339(now));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(time_point_cast<microseconds>(*parsed), now);
}
