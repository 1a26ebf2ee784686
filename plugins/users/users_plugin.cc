// Registration of the users plugin: reads its settings and exports the factory.
#include <clusterlite/plugin.h>

#include "users_table.h"

namespace {

std::unique_ptr<clusterlite::TableOperations> make_users(const clusterlite::PluginContext& ctx) {
  size_t max_name_length = 200;
  for (auto& m : ctx.settings.GetObject()) {
    std::string key(m.name.GetString(), m.name.GetStringLength());
    if (key == "max_name_length") {
      if (!m.value.IsUint() || m.value.GetUint() < 1 || m.value.GetUint() > 100000)
        throw std::invalid_argument("setting max_name_length must be an integer from 1 to 100000");
      max_name_length = m.value.GetUint();
    } else {
      throw std::invalid_argument("unknown setting: " + key);
    }
  }
  if (max_name_length != 200)
    ctx.log(clusterlite::LogLevel::kInfo, "max_name_length = " + std::to_string(max_name_length));
  return std::make_unique<users::UsersTable>(max_name_length);
}

}  // namespace

CLUSTERLITE_PLUGIN(make_users, 1)
