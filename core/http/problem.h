// RFC 9457 problem details: the body of every error response.
#pragma once

#include <string>
#include <string_view>

namespace clusterlite {

// {"type":"about:blank","title":...,"status":...,"detail":...[,"field":...]}
// plus any extra members given as pre-serialized JSON ("\"key\":value,...").
std::string problem_json(int status, std::string_view detail, std::string_view field = {},
                         std::string_view extra_members = {});

// The standard reason phrase for a status code ("Not Found").
const char* reason_phrase(int status);

}  // namespace clusterlite
