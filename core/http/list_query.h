// GET /{table}'s query parameters: paging (limit, after, cursor), filters
// (?field=value), search (?q=prefix) and order (?order=[-]field), parsed and
// checked against the fields the table's plugin can be queried by, and the
// keyset cursor the Link header carries to the next page. The same for every
// plugin; the plugin only answers the Query (TableOperations::query).
#pragma once

#include <clusterlite/query.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace clusterlite {

// A page holds `limit` rows: kDefaultLimit without the parameter, at most kMaxLimit.
inline constexpr int kDefaultLimit = 100;
inline constexpr int kMaxLimit = 1000;

// The parameters the host reads itself; any other parameter names a field.
bool is_reserved_list_parameter(std::string_view name);

// A `limit` parameter's value into `limit`; false when it is not an integer
// from 1 to kMaxLimit.
bool parse_limit(std::string_view value, int& limit);

// The orders GET /{table} takes, as the order parameter spells them: id,
// -id, and both directions of each sort field. A plugin built before
// queries (ABI 1 and 2) has no query(): id only. The one list the parser,
// /_schema and /openapi.json use.
std::vector<std::string> list_orders(const QueryFields& fields, int abi);

// A cursor's content. Encoded, it is opaque to clients:
// "c1." + base64url of {"t":table,"o":order,"f":filters fingerprint,"v":sort value,"i":id}.
struct ListCursor {
  std::string table;
  std::string order;        // as the order parameter spells it: "id", "-created_at"
  std::string fingerprint;  // of the filters and the search (list_fingerprint)
  std::string sort_value;   // JSON text of the last row's sort value; "" for the id orders
  std::string id;           // the last row's id
};

std::string encode_cursor(const ListCursor& cursor);
// False when `token` is not a cursor this host made (any shape error).
bool decode_cursor(std::string_view token, ListCursor& out);

// What a list request asks, once its parameters are checked.
struct ListRequest {
  int limit = 100;
  // True when the request asks for nothing but the id order (no filter, no
  // search, order absent or "id"): answered with get_all, as every plugin
  // can, with `query.after_id` as the after cursor.
  bool plain = true;
  Query query;             // limit, after_id and after_value included
  std::string order;       // the order parameter as given ("id" when absent)
  std::string fingerprint;  // of the filters and the search
  // The filters, search and order as query parameters ("email=a%40b.org&order=-id"),
  // "" for none: what the Link to the next page repeats.
  std::string link_params;
};

// Why a request's parameters were refused: a message for problem+json and
// the parameter it names.
struct ListParamError {
  std::string message;
  std::string parameter;
};

// Parses the raw (still percent-encoded) query parameters of GET /{table}.
// Returns false and sets `error` for an unknown or unindexed field, a bad
// order, a malformed cursor or one of another table, order or filter set,
// `after` and `cursor` together, and bad limits or values.
bool parse_list_request(const std::vector<std::pair<std::string, std::string>>& params, const std::string& table,
                        const QueryFields& fields, int abi, ListRequest& out, ListParamError& error);

// The parameters of the Link to the page after the one ending with `last`
// (its id and sort value): "limit=N&...&after=<id>" for the id order,
// "limit=N&...&cursor=<token>" for the others.
std::string next_page_params(const std::string& table, const ListRequest& request, const std::string& last_id,
                             const std::string& last_sort_value);

}  // namespace clusterlite
