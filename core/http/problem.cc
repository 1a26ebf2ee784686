#include "http/problem.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "json.h"

namespace clusterlite {

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
  }
}

std::string problem_json(int status, std::string_view detail, std::string_view field, std::string_view extra) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("type");
  w.String("about:blank");
  w.Key("title");
  w.String(reason_phrase(status));
  w.Key("status");
  w.Int(status);
  // A detail or field may hold text a plugin or the node cut at a byte count,
  // or bytes of the request: the body must be UTF-8 all the same.
  auto text = [&w](std::string_view s) {
    if (is_valid_utf8(s)) return w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    std::string valid = to_valid_utf8(s);
    return w.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
  };
  w.Key("detail");
  text(detail);
  if (!field.empty()) {
    w.Key("field");
    text(field);
  }
  w.EndObject();
  std::string out(buf.GetString(), buf.GetSize());
  if (!extra.empty()) {
    out.pop_back();
    out.append(",").append(extra).append("}");
  }
  return out;
}

}  // namespace clusterlite
