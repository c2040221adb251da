-- wrk script: a logged-in form POST to / creating a post, each with a different body.
-- The session cookie and the CSRF token come as headers on wrk's command line
-- (-H "Cookie: ..." -H "X-CSRFToken: ..."), so the script only builds the body.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

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
  return wrk.format(nil, nil, nil, body)
end
