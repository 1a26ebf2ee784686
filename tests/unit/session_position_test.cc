// Session position tokens (ClusterLite-Position): encoding, merging, and
// every way a token can be wrong.
#include "http/session_position.h"

#include <gtest/gtest.h>

#include <string>

using namespace clusterlite;

TEST(SessionPositionTest, RoundTripsAndMergesTheHigherOffsetPerPartition) {
  Position p{{0, 12}, {2, 7}};
  std::string token = encode_position("db_events", p);
  EXPECT_EQ(token.rfind("1.", 0), 0u) << token;
  Position read{{0, 20}, {1, 3}, {2, 1}};
  ASSERT_EQ(decode_position(token, "db_events", read), PositionToken::kValid);
  EXPECT_EQ(read, (Position{{0, 20}, {1, 3}, {2, 7}}));
  Position fresh;
  ASSERT_EQ(decode_position(token, "db_events", fresh), PositionToken::kValid);
  EXPECT_EQ(fresh, p);
  merge_position(fresh, {{0, 5}, {3, 9}});
  EXPECT_EQ(fresh, (Position{{0, 12}, {2, 7}, {3, 9}}));
}

TEST(SessionPositionTest, ATokenOfAnotherLogIsRecognisedAndLeftOut) {
  std::string token = encode_position("old_topic", {{0, 99}});
  Position read{{0, 1}};
  EXPECT_EQ(decode_position(token, "db_events", read), PositionToken::kOtherLog);
  EXPECT_EQ(read, (Position{{0, 1}}));
}

TEST(SessionPositionTest, RefusesWhatIsNotAToken) {
  std::string good = encode_position("t", {{0, 1}});
  std::string tag = good.substr(2, 16);
  for (const std::string& token :
       {std::string(""), std::string("1"), std::string("1."), std::string("1.abc.0-1"), "2." + tag + ".0-1",
        "1." + tag, "1." + tag + ".", "1." + tag + ".0-", "1." + tag + ".-1-5", "1." + tag + ".0-1_",
        "1." + tag + "._0-1", "1." + tag + ".0-1_0-2", "1." + tag + ".01-1", "1." + tag + ".0-01",
        "1." + tag + ".0-4611686018427387905", "1." + tag + ".1048577-1", "1." + tag + ".0-1 ",
        "1." + tag + ".0+1", "1." + tag + ".0-1;x", "1." + std::string(16, 'G') + ".0-1",
        "1." + std::string(15, 'a') + ".0-1", "1." + tag + "." + std::string(1100, '1')})
    {
      Position read;
      EXPECT_EQ(decode_position(token, "t", read), PositionToken::kMalformed) << token;
      EXPECT_TRUE(read.empty()) << token;
    }
  Position read;
  EXPECT_EQ(decode_position("1." + tag + ".0-4611686018427387904_1048576-0", "t", read), PositionToken::kValid);
}

TEST(SessionPositionTest, ATokenFitsACookieValue) {
  Position many;
  for (int p = 0; p < 40; ++p) many[p] = 1234567890123;
  std::string token = encode_position("db_events", many);
  EXPECT_LE(token.size(), kMaxPositionBytes);
  for (char c : token)
    EXPECT_TRUE(isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_') << c;
}
