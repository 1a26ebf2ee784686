// Registration of the notes plugin: reads its settings and exports the factory.
#include <clusterlite/plugin.h>

#include <stdexcept>

#include "notes_table.h"

namespace {

// Settings: {"max_title_length": 1..10000}. Anything else is an error, so a
// typo in the config file stops start-up instead of being ignored.
std::unique_ptr<clusterlite::TableOperations> make_notes(const clusterlite::PluginContext& ctx) {
  size_t max_title_length = 100;
  for (auto& m : ctx.settings.GetObject()) {
    std::string key(m.name.GetString(), m.name.GetStringLength());
    if (key != "max_title_length") throw std::invalid_argument("unknown setting: " + key);
    if (!m.value.IsUint() || m.value.GetUint() < 1 || m.value.GetUint() > 10000)
      throw std::invalid_argument("setting max_title_length must be an integer from 1 to 10000");
    max_title_length = m.value.GetUint();
  }
  ctx.log(clusterlite::LogLevel::kInfo, "max_title_length = " + std::to_string(max_title_length));
  return std::make_unique<notes::NotesTable>(max_title_length);
}

}  // namespace

CLUSTERLITE_PLUGIN(make_notes, 1)
