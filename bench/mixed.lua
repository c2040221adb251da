-- wrk script: the mixed workload of `make bench` — 90 % anonymous reads spread over the
-- paths listed in BENCH_MIXED_PATHS (one "anon <path>" or "auth <path>" per line: posts
-- and profiles), 8 % signed-in reads of the "auth" paths, 2 % signed-in form posts
-- creating a post. BENCH_COOKIE is the signed-in session, BENCH_CSRF its token.
local anon, auth = {}, {}
for line in io.lines(os.getenv("BENCH_MIXED_PATHS")) do
  local kind, path = line:match("^(%S+) (.+)$")
  if kind == "anon" then anon[#anon + 1] = path else auth[#auth + 1] = path end
end
local cookie = os.getenv("BENCH_COOKIE") or ""
local token = os.getenv("BENCH_CSRF") or ""
local counter = 0
local thread_id = 0
local next_thread = 0

setup = function(thread)
  next_thread = next_thread + 1
  thread:set("thread_id", next_thread)
end

init = function(args)
  math.randomseed(os.time() + thread_id * 7919)
end

request = function()
  counter = counter + 1
  local roll = math.random(100)
  if roll <= 90 then
    return wrk.format("GET", anon[math.random(#anon)], {})
  elseif roll <= 98 then
    return wrk.format("GET", auth[math.random(#auth)], {["Cookie"] = cookie})
  end
  local body = "body=Mixed+workload+post+" .. thread_id .. "-" .. counter .. "&csrf_token=" .. token
  return wrk.format("POST", "/", {
    ["Cookie"] = cookie,
    ["X-CSRFToken"] = token,
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, body)
end
