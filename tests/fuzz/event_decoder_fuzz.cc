// Fuzzes the event decoder with arbitrary bytes, as a hostile Kafka producer
// could write them. Decoding must never crash, and what it accepts must
// re-encode to an event that decodes to the same fields.
#include <cstdlib>
#include <string_view>

#include "eventlog/event_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  clusterlite::DatabaseEvent event;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (!clusterlite::decode_event(bytes, event).empty()) return 0;
  clusterlite::DatabaseEvent again;
  std::string encoded = clusterlite::encode_event(event);
  if (!clusterlite::decode_event(encoded, again).empty()) std::abort();
  if (again.id != event.id || again.table_name != event.table_name || again.operation != event.operation ||
      again.timestamp != event.timestamp || again.data != event.data)
    std::abort();
  return 0;
}
