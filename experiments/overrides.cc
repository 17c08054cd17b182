#include "experiments/overrides.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace st::experiments {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Walks `parts` from `msg`; on success returns the leaf's message and field.
bool Resolve(const std::vector<std::string>& parts, Message* msg,
             Message** leaf, const FieldDescriptor** field) {
  for (size_t i = 0; i < parts.size(); ++i) {
    const FieldDescriptor* f = msg->GetDescriptor()->FindFieldByName(parts[i]);
    if (f == nullptr || f->is_repeated()) return false;
    if (i + 1 == parts.size()) {
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) return false;
      *leaf = msg;
      *field = f;
      return true;
    }
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) return false;
    msg = msg->GetReflection()->MutableMessage(msg, f);
  }
  return false;
}

}  // namespace

absl::Status ApplyOverride(const std::string& path, const std::string& value,
                           proto::Experiment* spec) {
  const std::vector<std::string> parts = absl::StrSplit(path, '.');
  Message* leaf = nullptr;
  const FieldDescriptor* f = nullptr;
  std::vector<std::string> under_model = {"model"};
  under_model.insert(under_model.end(), parts.begin(), parts.end());
  if (!Resolve(parts, spec, &leaf, &f) &&
      !Resolve(under_model, spec, &leaf, &f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("override ", path, ": no such scalar field"));
  }
  const Reflection* r = leaf->GetReflection();
  auto bad = [&]() {
    return absl::InvalidArgumentError(absl::StrCat(
        "override ", path, "=", value, ": not a valid ", f->type_name()));
  };
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t v;
      if (!absl::SimpleAtoi(value, &v)) return bad();
      r->SetInt32(leaf, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t v;
      if (!absl::SimpleAtoi(value, &v)) return bad();
      r->SetInt64(leaf, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t v;
      if (!absl::SimpleAtoi(value, &v)) return bad();
      r->SetUInt32(leaf, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t v;
      if (!absl::SimpleAtoi(value, &v)) return bad();
      r->SetUInt64(leaf, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_FLOAT: {
      float v;
      if (!absl::SimpleAtof(value, &v)) return bad();
      r->SetFloat(leaf, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double v;
      if (!absl::SimpleAtod(value, &v)) return bad();
      r->SetDouble(leaf, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool v;
      if (!absl::SimpleAtob(value, &v)) return bad();
      r->SetBool(leaf, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* e =
          f->enum_type()->FindValueByName(absl::AsciiStrToUpper(value));
      if (e == nullptr) return bad();
      r->SetEnum(leaf, f, e);
      break;
    }
    case FieldDescriptor::CPPTYPE_STRING:
      r->SetString(leaf, f, value);
      break;
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return bad();
  }
  return absl::OkStatus();
}

absl::Status ApplyOverride(const std::string& assignment,
                           proto::Experiment* spec) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("override \"", assignment, "\": expected path=value"));
  }
  return ApplyOverride(assignment.substr(0, eq), assignment.substr(eq + 1),
                       spec);
}

}  // namespace st::experiments
