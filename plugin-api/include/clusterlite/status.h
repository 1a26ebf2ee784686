// Outcome of a plugin operation: the value every plugin call reports back to
// the host. Plugins return a Status instead of throwing so that verdicts cross
// the shared-object boundary without depending on RTTI matching.
#pragma once

#include <string>
#include <utility>

namespace clusterlite {

enum class StatusCode {
  kOk = 0,
  kInvalid,    // the request or event is malformed or fails validation (HTTP 400)
  kNotFound,   // the entity does not exist (HTTP 404)
  kConflict,   // the change contradicts stored state, e.g. a unique key (HTTP 409)
  kInternal,   // anything else; the message is logged, not shown to clients
};

class Status {
 public:
  Status() = default;

  static Status Ok() { return {}; }
  // `field` names the input field the error concerns ("" when none), so a UI
  // can show the message next to it.
  static Status Invalid(std::string message, std::string field = {}) {
    return {StatusCode::kInvalid, std::move(message), std::move(field)};
  }
  static Status NotFound(std::string message) { return {StatusCode::kNotFound, std::move(message), {}}; }
  static Status Conflict(std::string message, std::string field = {}) {
    return {StatusCode::kConflict, std::move(message), std::move(field)};
  }
  static Status Internal(std::string message) { return {StatusCode::kInternal, std::move(message), {}}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::string& field() const { return field_; }

 private:
  Status(StatusCode code, std::string message, std::string field)
      : code_(code), message_(std::move(message)), field_(std::move(field)) {}

  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::string field_;
};

}  // namespace clusterlite
