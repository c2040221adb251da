-- wrk script: a logged-in form POST to / creating a post, each with a different body.
-- The session cookie and the X-CSRFToken header come on wrk's command line (-H); the
-- form also carries the token as `csrf_token` (the form validates it too), read from
-- the BENCH_CSRF environment variable.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

local token = os.getenv("BENCH_CSRF") or ""
local counter = 0
local thread_id = 0
local next_thread = 0

setup = function(thread)
  next_thread = next_thread + 1
  thread:set("thread_id", next_thread)
end

request = function()
  counter = counter + 1
  local body = "body=Benchmark+post+" .. thread_id .. "-" .. counter
    .. "+with+*some*+Markdown+and+a+[link](https://example.com/)."
    .. "&csrf_token=" .. token
  return wrk.format(nil, nil, nil, body)
end
