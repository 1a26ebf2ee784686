#include "rebuild/log_reader.h"

#include "rebuild/embedded_reader.h"
#include "rebuild/kafka_reader.h"

namespace clusterlite {

std::unique_ptr<LogReader> open_log_reader(const Config& config) {
  if (config.mode == Mode::kStandalone)
    return std::make_unique<EmbeddedReader>(config.database.path, config.database.busy_timeout_ms);
  return std::make_unique<KafkaReader>(config);
}

}  // namespace clusterlite
