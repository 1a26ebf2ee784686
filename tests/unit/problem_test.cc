// RFC 9457 problem bodies (problem_json): always valid JSON in UTF-8, also
// when a detail or field was cut at a byte count inside a character.
#include "http/problem.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>

#include "json.h"

using namespace clusterlite;

TEST(ProblemTest, TextCutInsideACharacterStillGivesUtf8) {
  std::string id = std::string(63, 'a') + "\xC3\xA9";  // 'é' across byte 64
  std::string cut = "not found: " + id.substr(0, 64);
  ASSERT_FALSE(is_valid_utf8(cut));
  std::string body = problem_json(404, cut, std::string("\xF0\x9F", 2));
  EXPECT_TRUE(is_valid_utf8(body)) << body;
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(body.c_str(), body.size());
  ASSERT_FALSE(doc.HasParseError()) << body;
  EXPECT_EQ(std::string(doc["detail"].GetString()), "not found: " + std::string(63, 'a') + "\xEF\xBF\xBD");
  EXPECT_EQ(std::string(doc["field"].GetString()), "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(ProblemTest, ValidTextIsKeptAsItIs) {
  std::string body = problem_json(400, "name must not be empty: \xC3\xA9\xF0\x9F\x98\x80", "name");
  rapidjson::Document doc;
  doc.Parse(body.c_str(), body.size());
  EXPECT_STREQ(doc["detail"].GetString(), "name must not be empty: \xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_STREQ(doc["field"].GetString(), "name");
}

TEST(ProblemTest, ToValidUtf8ReplacesEachBadByte) {
  EXPECT_EQ(to_valid_utf8("plain"), "plain");
  EXPECT_EQ(to_valid_utf8("\xFF" "a\xC0\xAF" "b"), "\xEF\xBF\xBD" "a\xEF\xBF\xBD\xEF\xBF\xBD" "b");  // overlong '/'
  EXPECT_EQ(to_valid_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
  EXPECT_EQ(to_valid_utf8("\xE2\x82\xAC"), "\xE2\x82\xAC");
}
