#include "http/responder.h"

#include <sstream>

#include "http/problem.h"

namespace clusterlite {

std::optional<std::string> request_header(const Pistache::Http::Request& req, const std::string& name) {
  if (auto raw = req.headers().tryGetRaw(name)) return raw->value();
  if (auto h = req.headers().tryGet(name)) {
    std::ostringstream os;
    h->write(os);
    return os.str();
  }
  return std::nullopt;
}

std::string closing_answer(const std::string& node_id, int status, const std::string& detail) {
  std::string body = problem_json(status, detail);
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
  out.append("X-ClusterLite-Node: ").append(node_id).append("\r\n");
  out.append("Content-Type: application/problem+json\r\nX-Content-Type-Options: nosniff\r\n");
  out.append("Content-Security-Policy: ").append(kApiContentSecurityPolicy).append("\r\n");
  if (status == 503) out.append("Retry-After: 1\r\n");
  out.append("Connection: close\r\nContent-Length: ").append(std::to_string(body.size())).append("\r\n\r\n");
  return out + body;
}

}  // namespace clusterlite
