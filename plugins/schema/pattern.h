// Pattern: the "pattern" keyword of a declared table's top-level properties,
// matched in linear time by a DFA built once, when the declaration is loaded.
//
// The syntax and every verdict are those of RapidJSON's own regular
// expressions (rapidjson/internal/regex.h), which its JSON Schema validator
// uses for the patterns this class does not take over (nested ones):
// literals, ".", classes "[a-z0-9_]" and "[^...]" ("[\b]" is a backspace, a
// "-" first or last is literal), groups "(...)", "|", quantifiers "?", "*",
// "+", "{n}", "{n,}", "{n,m}" (n, m up to 4294967295; "{0}" is refused),
// escapes \^ \$ \| \( \) \? \* \+ \. \[ \] \{ \} \\ \f \n \r \t \v.
// RapidJSON's readings that differ from ECMAScript are kept, so a table's
// verdicts do not depend on which engine checked a value:
// - "^" and "$" anywhere (outside a class) anchor the whole pattern;
// - a search succeeds only on a match that consumes at least one character,
//   or on an empty text ("a*" does not match "b", "^a*$" matches "");
// - a text ends at its first NUL character.
// A few shapes RapidJSON reads in surprising ways are refused here (a
// quantifier with nothing before it, "a|*b", "x(|a)", an empty group or
// alternative, a quantifier right after "^" or "$").
//
// RapidJSON's engine is a Thompson NFA that follows every possible path at
// each character, and expands "{3,32}" into 32 copies: most of a write's time
// went to it. Here the NFA's state sets become the states of a DFA for the
// ASCII characters, built once (up to kMaxDfaStates), so checking a value
// costs one table lookup per character; other characters step the NFA.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace schema {

class Pattern {
 public:
  // Compiles `source`; nullptr and *why (a phrase such as "has an empty
  // alternative at character 4") when it cannot.
  static std::shared_ptr<const Pattern> compile(std::string_view source, std::string* why);

  // Whether `text` (valid UTF-8) matches, as RapidJSON's Search() decides.
  bool search(std::string_view text) const;

  // Whether a "*", "+" or "{n,}" repeats something that can match the empty
  // string, as "(a*)*" or "(a?)+" do: RapidJSON's engine recurses forever on
  // those, so a declaration that would hand one to it is refused.
  bool repeats_empty() const { return repeats_empty_; }

  // Whether the DFA was built (false: more than kMaxDfaStates state sets).
  bool has_dfa() const { return !dfa_.empty(); }

  static constexpr size_t kMaxNfaStates = 100000;
  static constexpr size_t kMaxDfaStates = 4096;

  struct NfaState;  // pattern.cc

 private:
  using StateSet = std::vector<uint32_t>;  // sorted indices of NFA states that consume or accept
  struct Step {
    StateSet next;
    bool matched = false;  // the match state was reached by consuming the character
  };

  Pattern() = default;
  StateSet closure(const std::vector<uint32_t>& starts) const;
  Step step(const StateSet& from, uint32_t codepoint) const;
  bool accepts(uint32_t state, uint32_t codepoint) const;
  void build_dfa();

  std::vector<NfaState> nfa_;
  std::vector<std::vector<std::pair<uint32_t, uint32_t>>> classes_;  // ranges per class
  std::vector<bool> class_negated_;
  uint32_t root_ = 0;
  uint32_t match_ = 0;
  bool anchor_begin_ = false, anchor_end_ = false, repeats_empty_ = false;
  StateSet start_;           // closure of the root
  StateSet restart_;         // added after every character when not anchored at the beginning
  bool matches_empty_ = false;

  // The DFA over ASCII 1..127: per state, the next state << 1 | matched.
  // State 0 is start_; kDead when the set is empty.
  static constexpr uint32_t kDead = 0xFFFFFFFFu;
  std::vector<std::array<uint32_t, 128>> dfa_;
  std::vector<StateSet> dfa_sets_;
};

}  // namespace schema
