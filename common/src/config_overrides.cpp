#include "kiln/common/config_overrides.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace kiln {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

std::string field_names(const google::protobuf::Descriptor& d) {
  std::string out;
  for (int i = 0; i < d.field_count(); ++i) {
    if (i > 0) out += ", ";
    out += std::string(d.field(i)->name());
  }
  return out;
}

// 'text', built by appending. ("'" + std::string&& would insert at the front
// of the temporary; GCC 12 at -O3 then reports a bogus overlap, -Wrestrict.)
std::string quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '\'';
  out += text;
  out += '\'';
  return out;
}

// Decimal, or hexadecimal with 0x; the whole text must be the number and fit T.
template <typename T>
bool parse_integer(std::string_view text, T* out) {
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    text.remove_prefix(2);
    base = 16;
  }
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out, base);
  return !text.empty() && error == std::errc() && end == text.data() + text.size();
}

bool parse_double(const std::string& text, double* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

// Sets one scalar field from text; returns what is wrong, or "" when done.
std::string set_field(Message& message, const FieldDescriptor& field, const std::string& value) {
  const auto* r = message.GetReflection();
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t v;
      if (!parse_integer(value, &v)) return "is not a 32-bit integer";
      r->SetInt32(&message, &field, v);
      return "";
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t v;
      if (!parse_integer(value, &v)) return "is not a 64-bit integer";
      r->SetInt64(&message, &field, v);
      return "";
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t v;
      if (!parse_integer(value, &v)) return "is not an unsigned 32-bit integer";
      r->SetUInt32(&message, &field, v);
      return "";
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t v;
      if (!parse_integer(value, &v)) return "is not an unsigned 64-bit integer";
      r->SetUInt64(&message, &field, v);
      return "";
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      double v;
      if (!parse_double(value, &v)) return "is not a finite number";
      if (field.cpp_type() == FieldDescriptor::CPPTYPE_FLOAT) {
        r->SetFloat(&message, &field, static_cast<float>(v));
      } else {
        r->SetDouble(&message, &field, v);
      }
      return "";
    }
    case FieldDescriptor::CPPTYPE_BOOL:
      if (value != "true" && value != "false") return "is not true or false";
      r->SetBool(&message, &field, value == "true");
      return "";
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* e = field.enum_type()->FindValueByName(value);
      if (e == nullptr) {
        std::string names;
        for (int i = 0; i < field.enum_type()->value_count(); ++i) {
          if (i > 0) names += ", ";
          names += std::string(field.enum_type()->value(i)->name());
        }
        return "is not one of " + names;
      }
      r->SetEnum(&message, &field, e);
      return "";
    }
    case FieldDescriptor::CPPTYPE_STRING:
      r->SetString(&message, &field, value);
      return "";
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return "names a message, not a value (name one of its fields: " + field_names(*field.message_type()) + ")";
}

Status apply_one(DeviceConfig& config, const std::string& override_text) {
  const std::size_t eq = override_text.find('=');
  if (eq == std::string::npos || eq == 0) {
    return invalid_argument("config override '" + override_text + "' is not path=value (e.g. hbm.bandwidth_gb_per_s=3000)");
  }
  const std::string path = override_text.substr(0, eq);
  const std::string value = override_text.substr(eq + 1);
  Message* message = &config;
  std::size_t begin = 0;
  for (;;) {
    const std::size_t dot = path.find('.', begin);
    const std::string name = path.substr(begin, dot == std::string::npos ? std::string::npos : dot - begin);
    const auto* descriptor = message->GetDescriptor();
    const FieldDescriptor* field = descriptor->FindFieldByName(name);
    if (field == nullptr || field->is_repeated()) {
      const std::string where =
          begin == 0 ? "the device config" : quoted(std::string_view(path).substr(0, begin - 1));
      return invalid_argument("config override '" + override_text + "': " + where + " has no field '" + name +
                              "' (fields: " + field_names(*descriptor) + ")");
    }
    if (dot == std::string::npos) {
      const std::string problem = set_field(*message, *field, value);
      if (!problem.empty()) {
        return invalid_argument("config override '" + override_text + "': '" + value + "' " + problem);
      }
      return {};
    }
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      return invalid_argument("config override '" + override_text + "': '" + path.substr(0, dot) +
                              "' is a value, it has no fields");
    }
    message = message->GetReflection()->MutableMessage(message, field);
    begin = dot + 1;
  }
}

}  // namespace

Status apply_config_overrides(DeviceConfig& config, const std::vector<std::string>& overrides) {
  if (overrides.empty()) return {};
  std::string origin = config.name() + " with";
  for (const std::string& o : overrides) {
    KILN_RETURN_IF_ERROR(apply_one(config, o));
    origin += " " + o;
  }
  return validate_device_config(config, origin);
}

Result<std::vector<std::string>> expand_config_sweep(std::string_view sweep) {
  const std::size_t eq = sweep.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == sweep.size()) {
    return invalid_argument("sweep '" + std::string(sweep) + "' is not path=v1,v2,... (e.g. mme.array_rows=128,256)");
  }
  const std::string path(sweep.substr(0, eq + 1));
  std::vector<std::string> out;
  std::size_t begin = eq + 1;
  for (;;) {
    const std::size_t comma = sweep.find(',', begin);
    const std::string_view value = sweep.substr(begin, comma == std::string_view::npos ? std::string_view::npos
                                                                                      : comma - begin);
    if (value.empty()) return invalid_argument("sweep '" + std::string(sweep) + "' has an empty value");
    out.push_back(path + std::string(value));
    if (comma == std::string_view::npos) break;
    begin = comma + 1;
  }
  return out;
}

}  // namespace kiln
