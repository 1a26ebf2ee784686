// Fuzzes the request-body path of a write: strict JSON parsing, then the
// users plugin's validation and event building. Must never crash; an event it
// builds must carry a valid email and a non-empty name.
#include <cstdlib>
#include <string_view>

#include "json.h"
#include "users_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rapidjson::Document body;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (!clusterlite::parse_json_strict(text, body).empty()) return 0;
  users::UsersTable table;
  clusterlite::DatabaseEvent created, updated;
  if (table.create_event(body, created).ok()) {
    if (!created.data["email"].IsString() || !users::is_valid_email(created.data["email"].GetString()))
      std::abort();
    if (!created.data["name"].IsString() || created.data["name"].GetStringLength() == 0) std::abort();
  }
  (void)table.update_event("3f0e8f8e-2b0b-4b4e-9a57-8d1f8f0c1a11", body, updated);
  return 0;
}
