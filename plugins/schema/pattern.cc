#include "pattern.h"

#include <algorithm>
#include <deque>
#include <map>
#include <optional>

namespace schema {

namespace {

constexpr uint32_t kInfinite = 0xFFFFFFFFu;  // "{n,}": RapidJSON reads 4294967295 the same way
constexpr uint32_t kNone = 0xFFFFFFFFu;      // an NFA arrow not yet pointed anywhere
constexpr size_t kMaxDepth = 200;            // nested groups
// The DFA is built only for NFAs up to this size, so building it stays quick.
constexpr size_t kMaxNfaStatesForDfa = 2000;

// The code point of the UTF-8 sequence at s[i], moving i past it; nothing
// (i unchanged) when the sequence is invalid, overlong or a surrogate.
std::optional<uint32_t> decode(std::string_view s, size_t& i) {
  unsigned char b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) return ++i, b;
  size_t n = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 ? 2 : 0;
  if (n == 0 || b > 0xF4 || i + n > s.size()) return std::nullopt;
  uint32_t cp = b & (0xFF >> (n + 1));
  for (size_t k = 1; k < n; ++k) {
    unsigned char c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return std::nullopt;
    cp = cp << 6 | (c & 0x3F);
  }
  static constexpr uint32_t kLeast[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kLeast[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
  i += n;
  return cp;
}

// The parsed pattern, before it becomes an NFA.
struct Ast {
  enum Kind { kChar, kAny, kClass, kConcat, kAlternation, kRepeat } kind;
  uint32_t value = 0;  // kChar: the code point; kClass: the class index
  std::vector<size_t> kids;
  uint32_t min = 0, max = 0;  // kRepeat
};

class Parser {
 public:
  explicit Parser(std::vector<uint32_t> cps) : cps_(std::move(cps)) {}

  std::vector<Ast> ast;
  std::vector<std::vector<std::pair<uint32_t, uint32_t>>> classes;
  std::vector<bool> negated;
  bool anchor_begin = false, anchor_end = false;
  std::string why;

  std::optional<size_t> parse() {
    auto root = alternation(0);
    if (root && pos_ < cps_.size()) return fail("has a \")\" without its \"(\"");
    return root;
  }

 private:
  bool at_end() const { return pos_ >= cps_.size(); }
  uint32_t peek() const { return at_end() ? 0 : cps_[pos_]; }
  std::nullopt_t fail(const std::string& what) {
    if (why.empty()) why = what + " (at character " + std::to_string(std::min(pos_, cps_.size()) + 1) + ")";
    return std::nullopt;
  }
  size_t add(Ast node) {
    ast.push_back(std::move(node));
    return ast.size() - 1;
  }

  std::optional<size_t> alternation(size_t depth) {
    if (depth > kMaxDepth) return fail("nests groups more than " + std::to_string(kMaxDepth) + " deep");
    std::vector<size_t> branches;
    while (true) {
      auto branch = concatenation(depth);
      if (!branch) return std::nullopt;
      branches.push_back(*branch);
      if (peek() != '|' || at_end()) break;
      ++pos_;
    }
    if (branches.size() == 1) return branches[0];
    return add({Ast::kAlternation, 0, std::move(branches)});
  }

  std::optional<size_t> concatenation(size_t depth) {
    std::vector<size_t> items;
    bool after_anchor = false;
    while (!at_end() && peek() != '|' && peek() != ')') {
      uint32_t c = peek();
      if (c == '^' || c == '$') {
        (c == '^' ? anchor_begin : anchor_end) = true;
        after_anchor = true;
        ++pos_;
        continue;
      }
      if (c == '?' || c == '*' || c == '+' || c == '{') {
        if (items.empty() || after_anchor) return fail("has a quantifier with nothing before it to repeat");
        uint32_t min, max;
        if (!quantifier(min, max)) return std::nullopt;
        items.back() = add({Ast::kRepeat, 0, {items.back()}, min, max});
        continue;
      }
      auto a = atom(depth);
      if (!a) return std::nullopt;
      items.push_back(*a);
      after_anchor = false;
    }
    if (items.empty()) return fail(depth == 0 && cps_.empty() ? "is empty" : "has an empty group or alternative");
    if (items.size() == 1) return items[0];
    return add({Ast::kConcat, 0, std::move(items)});
  }

  bool number(uint32_t& n) {
    if (peek() < '0' || peek() > '9' || at_end()) return fail("has a \"{\" without a number after it"), false;
    uint64_t v = 0;
    while (!at_end() && peek() >= '0' && peek() <= '9') {
      v = v * 10 + (cps_[pos_++] - '0');
      if (v > 0xFFFFFFFFull) return fail("repeats more than 4294967295 times"), false;
    }
    n = static_cast<uint32_t>(v);
    return true;
  }

  bool quantifier(uint32_t& min, uint32_t& max) {
    uint32_t c = cps_[pos_++];
    if (c == '?') return min = 0, max = 1, true;
    if (c == '*') return min = 0, max = kInfinite, true;
    if (c == '+') return min = 1, max = kInfinite, true;
    if (!number(min)) return false;
    max = min;
    if (peek() == ',' && !at_end()) {
      ++pos_;
      if (peek() == '}' && !at_end())
        max = kInfinite;
      else if (!number(max))
        return false;
      else if (max < min)
        return fail("has a \"{n,m}\" with m less than n"), false;
    }
    if (peek() != '}' || at_end()) return fail("has a \"{\" without its \"}\""), false;
    ++pos_;
    if (max == 0) return fail("repeats something zero times"), false;
    return true;
  }

  // After a backslash: the character it stands for, or nothing.
  std::optional<uint32_t> escape() {
    if (at_end()) return fail("ends with a backslash");
    uint32_t c = cps_[pos_++];
    switch (c) {
      case '^': case '$': case '|': case '(': case ')': case '?': case '*': case '+':
      case '.': case '[': case ']': case '{': case '}': case '\\':
        return c;
      case 'f': return 0x0C;
      case 'n': return 0x0A;
      case 'r': return 0x0D;
      case 't': return 0x09;
      case 'v': return 0x0B;
      default:
        --pos_;
        return fail("has an escape RapidJSON's validator does not support");
    }
  }

  std::optional<size_t> atom(size_t depth) {
    uint32_t c = cps_[pos_++];
    switch (c) {
      case '(': {
        auto inner = alternation(depth + 1);
        if (!inner) return std::nullopt;
        if (peek() != ')' || at_end()) return fail("has a \"(\" without its \")\"");
        ++pos_;
        return inner;
      }
      case '[': return character_class();
      case '.': return add({Ast::kAny});
      case '\\': {
        auto e = escape();
        if (!e) return std::nullopt;
        return add({Ast::kChar, *e});
      }
      default: return add({Ast::kChar, c});  // "]" and "}" included, as RapidJSON reads them
    }
  }

  // After "[": ranges in order; "a-" at the end keeps "-" literal, and a "-"
  // right after a range's end or at the start is literal too.
  std::optional<size_t> character_class() {
    std::vector<std::pair<uint32_t, uint32_t>> ranges;
    bool negate = false;
    if (peek() == '^' && !at_end()) negate = true, ++pos_;
    enum { kFirst, kAfterChar, kAfterDash } step = kFirst;
    while (true) {
      if (at_end()) return fail("has a \"[\" without its \"]\"");
      uint32_t c = cps_[pos_++];
      if (c == ']') {
        if (ranges.empty()) return fail("has an empty class \"[]\"");
        if (step == kAfterDash) ranges.push_back({'-', '-'});
        break;
      }
      if (c == '\\') {
        if (peek() == 'b' && !at_end()) {
          ++pos_;
          c = 0x08;
        } else {
          auto e = escape();
          if (!e) return std::nullopt;
          c = *e;
        }
      }
      if (step == kAfterChar && c == '-') {
        step = kAfterDash;
      } else if (step == kAfterDash) {
        ranges.back().second = c;  // a range whose end is below its start matches nothing
        step = kFirst;
      } else {
        ranges.push_back({c, c});
        step = kAfterChar;
      }
    }
    classes.push_back(std::move(ranges));
    negated.push_back(negate);
    return add({Ast::kClass, static_cast<uint32_t>(classes.size() - 1)});
  }

  std::vector<uint32_t> cps_;
  size_t pos_ = 0;
};

bool nullable(const std::vector<Ast>& ast, size_t i) {
  const Ast& a = ast[i];
  switch (a.kind) {
    case Ast::kConcat:
      return std::all_of(a.kids.begin(), a.kids.end(), [&](size_t k) { return nullable(ast, k); });
    case Ast::kAlternation:
      return std::any_of(a.kids.begin(), a.kids.end(), [&](size_t k) { return nullable(ast, k); });
    case Ast::kRepeat: return a.min == 0 || nullable(ast, a.kids[0]);
    default: return false;
  }
}

bool loops_over_empty(const std::vector<Ast>& ast, size_t i) {
  const Ast& a = ast[i];
  if (a.kind == Ast::kRepeat && a.max == kInfinite && nullable(ast, a.kids[0])) return true;
  return std::any_of(a.kids.begin(), a.kids.end(), [&](size_t k) { return loops_over_empty(ast, k); });
}

}  // namespace

struct Pattern::NfaState {
  enum Kind : uint8_t { kChar, kAny, kClass, kSplit, kMatch } kind;
  uint32_t value = 0;  // kChar: code point; kClass: class index
  uint32_t out = kNone, out1 = kNone;
};

namespace {

// Thompson's construction: each piece of the pattern becomes a fragment with
// one entry and a list of arrows still to point at what follows.
class Builder {
 public:
  using NfaState = Pattern::NfaState;
  struct Arrow {
    uint32_t state;
    bool second;  // out1 rather than out
  };
  struct Fragment {
    uint32_t start;
    std::vector<Arrow> open;
  };

  Builder(const std::vector<Ast>& ast, std::vector<NfaState>& nfa) : ast_(ast), nfa_(nfa) {}
  bool too_large = false;

  Fragment emit(size_t i) {
    if (too_large) return {0, {}};
    const Ast& a = ast_[i];
    switch (a.kind) {
      case Ast::kChar: return single(NfaState::kChar, a.value);
      case Ast::kAny: return single(NfaState::kAny, 0);
      case Ast::kClass: return single(NfaState::kClass, a.value);
      case Ast::kConcat: {
        Fragment f = emit(a.kids[0]);
        for (size_t k = 1; k < a.kids.size(); ++k) f = then(std::move(f), emit(a.kids[k]));
        return f;
      }
      case Ast::kAlternation: {
        Fragment f = emit(a.kids[0]);
        for (size_t k = 1; k < a.kids.size(); ++k) {
          Fragment g = emit(a.kids[k]);
          uint32_t s = state({NfaState::kSplit, 0, f.start, g.start});
          f.open.insert(f.open.end(), g.open.begin(), g.open.end());
          f.start = s;
        }
        return f;
      }
      case Ast::kRepeat: {
        std::optional<Fragment> f;
        auto append = [&](Fragment g) { f = f ? then(std::move(*f), std::move(g)) : std::move(g); };
        for (uint32_t k = 0; k < a.min && !too_large; ++k) append(emit(a.kids[0]));
        if (a.max == kInfinite) {
          Fragment body = emit(a.kids[0]);
          uint32_t s = state({NfaState::kSplit, 0, body.start, kNone});
          patch(body.open, s);
          append({s, {{s, true}}});
        } else {
          for (uint32_t k = a.min; k < a.max && !too_large; ++k) {
            Fragment body = emit(a.kids[0]);
            uint32_t s = state({NfaState::kSplit, 0, body.start, kNone});
            body.open.push_back({s, true});
            append({s, std::move(body.open)});
          }
        }
        return std::move(*f);
      }
    }
    return {0, {}};
  }

  void patch(const std::vector<Arrow>& open, uint32_t target) {
    for (const Arrow& a : open) (a.second ? nfa_[a.state].out1 : nfa_[a.state].out) = target;
  }

  uint32_t state(NfaState s) {
    if (nfa_.size() >= Pattern::kMaxNfaStates) {
      too_large = true;
      return 0;
    }
    nfa_.push_back(s);
    return static_cast<uint32_t>(nfa_.size() - 1);
  }

 private:
  Fragment single(NfaState::Kind kind, uint32_t value) {
    uint32_t s = state({kind, value});
    return {s, {{s, false}}};
  }
  Fragment then(Fragment f, Fragment g) {
    patch(f.open, g.start);
    return {f.start, std::move(g.open)};
  }

  const std::vector<Ast>& ast_;
  std::vector<NfaState>& nfa_;
};

}  // namespace

std::shared_ptr<const Pattern> Pattern::compile(std::string_view source, std::string* why) {
  std::vector<uint32_t> cps;
  for (size_t i = 0; i < source.size();) {
    auto cp = source[i] == '\0' ? std::nullopt : decode(source, i);
    if (!cp) {
      *why = "is not valid UTF-8 text without NUL characters";
      return nullptr;
    }
    cps.push_back(*cp);
  }
  Parser parser(std::move(cps));
  auto root = parser.parse();
  if (!root) {
    *why = parser.why;
    return nullptr;
  }
  std::shared_ptr<Pattern> p(new Pattern());
  p->anchor_begin_ = parser.anchor_begin;
  p->anchor_end_ = parser.anchor_end;
  p->classes_ = std::move(parser.classes);
  p->class_negated_ = std::move(parser.negated);
  p->repeats_empty_ = loops_over_empty(parser.ast, *root);
  Builder builder(parser.ast, p->nfa_);
  Builder::Fragment f = builder.emit(*root);
  p->match_ = builder.state({NfaState::kMatch});
  if (builder.too_large) {
    *why = "makes more than " + std::to_string(kMaxNfaStates) + " states once its repeats are expanded";
    return nullptr;
  }
  builder.patch(f.open, p->match_);
  p->root_ = f.start;
  p->start_ = p->closure({p->root_});
  p->matches_empty_ = std::binary_search(p->start_.begin(), p->start_.end(), p->match_);
  if (!p->anchor_begin_) p->restart_ = p->start_;
  if (p->nfa_.size() <= kMaxNfaStatesForDfa) p->build_dfa();
  return p;
}

Pattern::StateSet Pattern::closure(const std::vector<uint32_t>& starts) const {
  // Iterative, with every state visited once: "(a*)*" loops without
  // consuming, and a loop must not recurse forever.
  StateSet out;
  std::vector<bool> seen(nfa_.size());
  std::vector<uint32_t> todo(starts.rbegin(), starts.rend());
  while (!todo.empty()) {
    uint32_t s = todo.back();
    todo.pop_back();
    if (s == kNone || seen[s]) continue;
    seen[s] = true;
    const NfaState& st = nfa_[s];
    if (st.kind == NfaState::kSplit) {
      todo.push_back(st.out1);
      todo.push_back(st.out);
    } else {
      out.push_back(s);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool Pattern::accepts(uint32_t state, uint32_t cp) const {
  const NfaState& s = nfa_[state];
  switch (s.kind) {
    case NfaState::kChar: return s.value == cp;
    case NfaState::kAny: return true;
    case NfaState::kClass: {
      bool in = std::any_of(classes_[s.value].begin(), classes_[s.value].end(),
                            [cp](const auto& r) { return cp >= r.first && cp <= r.second; });
      return in != class_negated_[s.value];
    }
    default: return false;
  }
}

Pattern::Step Pattern::step(const StateSet& from, uint32_t cp) const {
  std::vector<uint32_t> targets;
  for (uint32_t s : from)
    if (accepts(s, cp)) targets.push_back(nfa_[s].out);
  Step r;
  StateSet reached = closure(targets);
  r.matched = std::binary_search(reached.begin(), reached.end(), match_);
  std::set_union(reached.begin(), reached.end(), restart_.begin(), restart_.end(), std::back_inserter(r.next));
  return r;
}

void Pattern::build_dfa() {
  std::map<StateSet, uint32_t> ids{{start_, 0}};
  dfa_sets_ = {start_};
  for (size_t d = 0; d < dfa_sets_.size(); ++d) {
    std::array<uint32_t, 128> row{};
    for (uint32_t c = 1; c < 128; ++c) {
      Step st = step(dfa_sets_[d], c);
      auto [it, added] = ids.emplace(std::move(st.next), static_cast<uint32_t>(dfa_sets_.size()));
      if (added) {
        if (dfa_sets_.size() >= kMaxDfaStates) {
          dfa_.clear();
          dfa_sets_.clear();
          return;
        }
        dfa_sets_.push_back(it->first);
      }
      row[c] = it->second << 1 | (st.matched ? 1u : 0u);
    }
    dfa_.push_back(row);
  }
}

bool Pattern::search(std::string_view text) const {
  if (size_t nul = text.find('\0'); nul != std::string_view::npos) text = text.substr(0, nul);
  if (text.empty()) return matches_empty_;
  bool matched = false;
  size_t i = 0;
  StateSet current;
  if (has_dfa()) {
    uint32_t d = 0;
    while (i < text.size()) {
      unsigned char b = static_cast<unsigned char>(text[i]);
      if (b >= 0x80) break;
      uint32_t t = dfa_[d][b];
      matched = t & 1;
      d = t >> 1;
      ++i;
      if (matched && !anchor_end_) return true;
      if (dfa_sets_[d].empty()) return false;
    }
    if (i == text.size()) return matched;
    current = dfa_sets_[d];
  } else {
    current = start_;
  }
  // Past the ASCII range (or without a DFA): step the NFA itself.
  while (i < text.size()) {
    auto cp = decode(text, i);
    if (!cp) break;  // RapidJSON's decoder ends the text there too
    Step st = step(current, *cp);
    matched = st.matched;
    if (matched && !anchor_end_) return true;
    if (st.next.empty()) return false;
    current = std::move(st.next);
  }
  return matched;
}

}  // namespace schema
