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

TEST(TimeUtil, WritesAnyOffsetAsUtc) {
  auto utc = [](std::string_view text) {
    auto t = parse_rfc3339(text);
    EXPECT_TRUE(t) << text;
    return t ? to_utc_rfc3339(text, *t) : std::string();
  };
  EXPECT_EQ(utc("2026-12-07T01:30:00.5+02:00"), "2026-12-06T23:30:00.5Z");  // back across midnight
  EXPECT_EQ(utc("2024-02-28T23:00:00-01:30"), "2024-02-29T00:30:00Z");      // into a leap day
  EXPECT_EQ(utc("2024-11-30T15:04:05.123456789-00:00"), "2024-11-30T15:04:05.123456789Z");
  EXPECT_EQ(utc("2024-11-30t15:04:05z"), "2024-11-30T15:04:05Z");
  EXPECT_EQ(utc("1969-12-31T23:59:59.25-00:01"), "1970-01-01T00:00:59.25Z");  // seconds before the epoch
  // Already UTC: the text is kept as it is.
  EXPECT_EQ(utc("2026-11-27T05:23:00.123456Z"), "2026-11-27T05:23:00.123456Z");
  EXPECT_EQ(utc("2026-11-27T05:23:00Z"), "2026-11-27T05:23:00Z");
}
