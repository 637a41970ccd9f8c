// A minimal strict JSON (RFC 8259) parser for tests, so checking exported
// JSON needs nothing outside the repository. Strict on purpose: it rejects
// trailing commas, raw control characters in strings, invalid UTF-8, lone
// surrogates and duplicate object keys, all of which some consumers tolerate
// and others do not.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kiln::test_json {

struct JsonMember;

struct Json {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  std::string text;  // number: literal as written; string: decoded UTF-8
  std::vector<Json> items;
  // In document order. A struct of its own, not std::pair<std::string,
  // Json>: instantiating that pair inside Json asks whether Json is
  // default-constructible, which needs the pair again; GCC lets the cycle
  // pass, clang rejects it.
  std::vector<JsonMember> members;

  const Json* find(std::string_view key) const;
};

struct JsonMember {
  std::string key;
  Json value;
};

inline const Json* Json::find(std::string_view key) const {
  for (const JsonMember& m : members) {
    if (m.key == key) return &m.value;
  }
  return nullptr;
}

class JsonParser {
 public:
  explicit JsonParser(std::string_view s) : s_(s) {}

  // The whole input must be exactly one value (plus whitespace).
  std::optional<Json> parse() {
    Json out;
    skip_ws();
    if (!value(out, 0)) return std::nullopt;
    skip_ws();
    if (pos_ != s_.size()) return fail("trailing characters");
    return out;
  }
  const std::string& error() const { return error_; }

 private:
  std::nullopt_t fail(const std::string& what) {
    if (error_.empty()) error_ = what + " at offset " + std::to_string(pos_);
    return std::nullopt;
  }
  bool eof() const { return pos_ >= s_.size(); }
  char peek() const { return eof() ? '\0' : s_[pos_]; }
  void skip_ws() {
    while (!eof() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
  }
  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  bool digits() {
    const std::size_t start = pos_;
    while (!eof() && peek() >= '0' && peek() <= '9') ++pos_;
    return pos_ > start;
  }

  bool value(Json& out, int depth) {
    if (depth > 64) return (fail("nesting too deep"), false);
    const char c = peek();
    if (c == '{') return object(out, depth);
    if (c == '[') return array(out, depth);
    if (c == '"') { out.kind = Json::Kind::kString; return string(out.text); }
    if (literal("true")) { out.kind = Json::Kind::kBool; out.boolean = true; return true; }
    if (literal("false")) { out.kind = Json::Kind::kBool; return true; }
    if (literal("null")) return true;
    if (c == '-' || (c >= '0' && c <= '9')) return number(out);
    return (fail("unexpected character"), false);
  }

  bool number(Json& out) {
    const std::size_t start = pos_;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (!digits()) {
      return (fail("bad number"), false);
    }
    if (peek() == '.') {
      ++pos_;
      if (!digits()) return (fail("bad fraction"), false);
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!digits()) return (fail("bad exponent"), false);
    }
    out.kind = Json::Kind::kNumber;
    out.text = std::string(s_.substr(start, pos_ - start));
    return true;
  }

  static void put_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  bool hex4(uint32_t& cp) {
    if (pos_ + 4 > s_.size()) return false;
    cp = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = s_[pos_++];
      cp <<= 4;
      if (h >= '0' && h <= '9') cp |= static_cast<uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f') cp |= static_cast<uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') cp |= static_cast<uint32_t>(h - 'A' + 10);
      else return false;
    }
    return true;
  }

  // Raw bytes >= 0x80 must form valid UTF-8 (JSON text is UTF-8).
  bool raw_utf8(std::string& out) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s_[k]); };
    const unsigned char b0 = b(pos_);
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) len = 2;
    else if (b0 >= 0xE0 && b0 <= 0xEF) { len = 3; lo = b0 == 0xE0 ? 0xA0 : 0x80; hi = b0 == 0xED ? 0x9F : 0xBF; }
    else if (b0 >= 0xF0 && b0 <= 0xF4) { len = 4; lo = b0 == 0xF0 ? 0x90 : 0x80; hi = b0 == 0xF4 ? 0x8F : 0xBF; }
    else return false;
    if (pos_ + len > s_.size() || b(pos_ + 1) < lo || b(pos_ + 1) > hi) return false;
    for (std::size_t k = 2; k < len; ++k) {
      if (b(pos_ + k) < 0x80 || b(pos_ + k) > 0xBF) return false;
    }
    out.append(s_.substr(pos_, len));
    pos_ += len;
    return true;
  }

  bool string(std::string& out) {
    ++pos_;  // opening quote
    while (true) {
      if (eof()) return (fail("unterminated string"), false);
      const auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') { ++pos_; return true; }
      if (c < 0x20) return (fail("raw control character in string"), false);
      if (c >= 0x80) {
        if (!raw_utf8(out)) return (fail("invalid UTF-8"), false);
        continue;
      }
      ++pos_;
      if (c != '\\') { out += static_cast<char>(c); continue; }
      if (eof()) return (fail("unterminated escape"), false);
      const char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = 0;
          if (!hex4(cp)) return (fail("bad \\u escape"), false);
          if (cp >= 0xDC00 && cp <= 0xDFFF) return (fail("lone low surrogate"), false);
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t low = 0;
            if (!literal("\\u") || !hex4(low) || low < 0xDC00 || low > 0xDFFF) {
              return (fail("lone high surrogate"), false);
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          put_utf8(out, cp);
          break;
        }
        default: return (fail("bad escape"), false);
      }
    }
  }

  bool array(Json& out, int depth) {
    out.kind = Json::Kind::kArray;
    ++pos_;
    skip_ws();
    if (peek() == ']') { ++pos_; return true; }
    while (true) {
      skip_ws();
      Json item;
      if (!value(item, depth + 1)) return false;
      out.items.push_back(std::move(item));
      skip_ws();
      if (peek() == ',') { ++pos_; continue; }
      if (peek() == ']') { ++pos_; return true; }
      return (fail("expected , or ] in array"), false);
    }
  }

  bool object(Json& out, int depth) {
    out.kind = Json::Kind::kObject;
    ++pos_;
    skip_ws();
    if (peek() == '}') { ++pos_; return true; }
    std::set<std::string> keys;
    while (true) {
      skip_ws();
      if (peek() != '"') return (fail("expected key"), false);
      std::string key;
      if (!string(key)) return false;
      // Legal JSON, but a duplicate key in our output would be a bug.
      if (!keys.insert(key).second) return (fail("duplicate key " + key), false);
      skip_ws();
      if (peek() != ':') return (fail("expected :"), false);
      ++pos_;
      skip_ws();
      Json v;
      if (!value(v, depth + 1)) return false;
      out.members.push_back({std::move(key), std::move(v)});
      skip_ws();
      if (peek() == ',') { ++pos_; continue; }
      if (peek() == '}') { ++pos_; return true; }
      return (fail("expected , or } in object"), false);
    }
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  std::string error_;
};

}  // namespace kiln::test_json
