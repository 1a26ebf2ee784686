-- POST /gadgets with a new gadget per request (tests/plugins/gadgets); each
-- serial is unique per thread and request. Counts answers by status class.
local threads = 0
local counter = 0
thread_id = 0

function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
  counter = counter + 1
  local body = string.format('{"name":"Load","serial":"load-%d-%d"}', thread_id, counter)
  return wrk.format(nil, "/gadgets", nil, body)
end
