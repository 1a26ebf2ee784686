// schema::Pattern (plugins/schema/pattern.cc, compiled in), the matcher of
// declared tables' top-level "pattern" keywords, against the engine it stands
// in for: RapidJSON's own regular expressions. A unit test of one class: every
// verdict of Pattern must be RapidJSON's, on chosen and on random patterns.
#include <gtest/gtest.h>
#include <rapidjson/internal/regex.h>

#include <random>
#include <string>
#include <thread>
#include <vector>

#include "pattern.h"

namespace {

using schema::Pattern;

std::shared_ptr<const Pattern> compiled(const std::string& source) {
  std::string why;
  auto p = Pattern::compile(source, &why);
  EXPECT_TRUE(p) << source << ": " << why;
  return p;
}

// Pattern's verdict equals RapidJSON's on every text.
void expect_same(const std::string& source, const std::vector<std::string>& texts) {
  auto p = compiled(source);
  if (!p) return;
  rapidjson::internal::Regex re(source.c_str());
  ASSERT_TRUE(re.IsValid()) << source;
  for (const std::string& t : texts)
    EXPECT_EQ(p->search(t), re.Search(t.c_str())) << "pattern " << source << ", text \"" << t << "\"";
}

const std::vector<std::string> kTexts = {
    "", "a", "b", "ab", "abc", "aab", "ba", "ABC", "AB-12", "ab-12", "B1-0-17", "x", "xa", "ax", "-", "a-", ".", "a.b",
    "aaaa", "abcabc", "\t", "a\nb", "é", "aé", "中文", "a中", "😀", "Z", "0123", "{", "}", "]", "a]", "a}",
    std::string("a\0b", 3), std::string("\0", 1)};

TEST(SchemaPattern, AgreesWithRapidJsonOnChosenPatterns) {
  for (const char* source :
       {"^[A-Z0-9-]{3,32}$", "a", "^a", "a$", "^a$", "a*", "^a*$", "a+", "a?", "^a?$", "ab|c", "^ab|c$", "^a$|^b$",
        "(ab)+", "^(ab)*$", "a{2}", "a{2,}", "a{0,2}", "^a{1,3}$", "[abc]", "[^abc]", "[a-c]", "^[a-c-e]+$", "[-a]",
        "[a-]", "[z-a]", "[\\b]", ".", "^.$", "^..$", "a.c", "\\.", "\\^\\$", "\\{\\}", "a]", "a}", "]",
        "a^b", "ab$c", "^(a|b)*c$", "^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}$", "é", "[é-ü]", "^[^a]*$",
        "中", "(a|ab)(c|bcd)", "a+?", "a*?", "a{2}+", "\\n", "\\t", "^[\\t ]+$", "a{0,}", "(a)(b)(c)", "((a))"})
    expect_same(source, kTexts);
}

// RapidJSON's reading where ECMAScript's differs: kept.
TEST(SchemaPattern, KeepsRapidJsonReadings) {
  EXPECT_FALSE(compiled("a*")->search("b"));        // an empty match does not count...
  EXPECT_TRUE(compiled("^a*$")->search(""));        // ...unless the text is empty
  EXPECT_TRUE(compiled("^a$|^b$")->search("b"));    // anchors are the whole pattern's
  EXPECT_FALSE(compiled("^a|b")->search("xb"));     // so "^a|b" is "^(a|b)"
  EXPECT_TRUE(compiled("a^b")->search("ab"));       // wherever they stand
  EXPECT_TRUE(compiled("^a$")->search(std::string("a\0b", 3)));  // a text ends at NUL
  EXPECT_TRUE(compiled("^a+?$")->search(""));       // "+?" is "(a+)?", not a lazy "+"
}

// Random patterns from the grammar both engines share, and random texts.
class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  std::string pattern() {
    bool nullable;
    std::string p = alternation(0, nullable);
    if (pick(4) == 0) p = "^" + p;
    if (pick(4) == 0) p += "$";
    return p;
  }

  std::string text() {
    static const std::vector<std::string> kAlphabet = {"a", "b", "c", "-", ".", "x", "é", "中", "A", "1"};
    std::string t;
    for (int n = pick(9); n > 0; --n) t += kAlphabet[pick(kAlphabet.size())];
    return t;
  }

 private:
  size_t pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }

  std::string alternation(int depth, bool& nullable) {
    std::string out = concatenation(depth, nullable);
    for (int n = pick(3) == 0 ? 1 : 0; n > 0; --n) {
      bool other;
      out += "|" + concatenation(depth, other);
      nullable = nullable || other;
    }
    return out;
  }

  std::string concatenation(int depth, bool& nullable) {
    std::string out;
    nullable = true;
    for (int n = 1 + pick(3); n > 0; --n) {
      bool item;
      out += repeated(depth, item);
      nullable = nullable && item;
    }
    return out;
  }

  std::string repeated(int depth, bool& nullable) {
    std::string a = atom(depth, nullable);
    switch (pick(8)) {
      case 0: nullable = true; return a + "?";
      // RapidJSON's engine recurses forever on a loop over what can be empty.
      case 1: if (nullable) return a; nullable = true; return a + "*";
      case 2: if (nullable) return a; return a + "+";
      case 3: { int n = 1 + pick(3); return a + "{" + std::to_string(n) + "}"; }
      case 4: { int n = pick(3); if (nullable) return a; nullable = n == 0; return a + "{" + std::to_string(n) + ",}"; }
      case 5: {
        int n = pick(3), m = n + 1 + pick(2);
        nullable = nullable || n == 0;
        return a + "{" + std::to_string(n) + "," + std::to_string(m) + "}";
      }
      default: return a;
    }
  }

  std::string atom(int depth, bool& nullable) {
    nullable = false;
    static const std::vector<std::string> kAtoms = {"a", "b", "c", "x", "-", "\\.", ".", "[a-c]", "[^b]", "[ab-]",
                                                    "[-a]", "[é-中]", "é", "中", "A", "[A-Z0-9-]", "1", "]"};
    if (depth < 3 && pick(5) == 0) return "(" + alternation(depth + 1, nullable) + ")";
    return kAtoms[pick(kAtoms.size())];
  }

  std::mt19937 rng_;
};

TEST(SchemaPattern, AgreesWithRapidJsonOnRandomPatterns) {
  Generator gen(20261207);
  for (int i = 0; i < 3000; ++i) {
    std::string source = gen.pattern();
    std::vector<std::string> texts = kTexts;
    for (int k = 0; k < 40; ++k) texts.push_back(gen.text());
    expect_same(source, texts);
    if (HasFailure()) break;
  }
}

TEST(SchemaPattern, AgreesWithoutItsDfa) {
  // Too many NFA states for a DFA: the NFA is stepped for every character.
  auto p = compiled("^(a|b){900,1000}$");
  ASSERT_FALSE(p->has_dfa());
  rapidjson::internal::Regex re("^(a|b){900,1000}$");
  for (size_t n : {899, 900, 950, 1000, 1001}) {
    std::string t(n, 'a');
    t[n / 2] = 'b';
    EXPECT_EQ(p->search(t), re.Search(t.c_str())) << n;
    EXPECT_EQ(p->search(t), n >= 900 && n <= 1000) << n;
  }
}

TEST(SchemaPattern, LoopsOverEmptyAreFlaggedAndMatchedSafely) {
  for (const char* source : {"(a*)*", "(a?)+", "a**", "(a|b?){2,}", "^(x?y?)*$"}) {
    auto p = compiled(source);
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->repeats_empty()) << source;
    p->search("aaab");  // must return, not recurse forever
  }
  EXPECT_TRUE(compiled("^(x?y?)*$")->search("xyyx"));
  for (const char* source : {"a*", "(a+)*", "(a?){2,5}", "(ab?)+"}) EXPECT_FALSE(compiled(source)->repeats_empty()) << source;
}

TEST(SchemaPattern, RefusesWhatItCannotReadWithAReason) {
  for (const char* source : {"", "(", ")", "a)", "(a", "*a", "a|*b", "x(|a)", "x()", "a||b", "a|", "^*", "a$+", "[",
                             "[]", "[^]", "a{", "a{x}", "a{2", "a{3,1}", "a{0}", "a{0,0}", "\\d", "\\", "[\\d]",
                             "a{99999999999}"}) {
    std::string why;
    EXPECT_FALSE(Pattern::compile(source, &why)) << source;
    EXPECT_FALSE(why.empty()) << source;
  }
}

TEST(SchemaPattern, IsSafeToShareBetweenThreads) {
  auto p = compiled("^[A-Z0-9-]{3,32}$");
  auto work = [&](int* wrong) {
    for (int i = 0; i < 20000; ++i) {
      std::string ok = "AB-" + std::to_string(i), bad = "ab-" + std::to_string(i);
      *wrong += !p->search(ok) + p->search(bad);
    }
  };
  int wrong1 = 0, wrong2 = 0;
  std::thread t1(work, &wrong1), t2(work, &wrong2);
  t1.join();
  t2.join();
  EXPECT_EQ(wrong1 + wrong2, 0);
}

}  // namespace
