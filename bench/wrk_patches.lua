-- Polls sessions of the original protocol, round robin over the session ids in the file given
-- after "--". Counts full answers (200) and others (202 "nothing yet", errors) per thread.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ids = {}
  for line in io.lines(args[1]) do
    ids[#ids + 1] = line
  end
  n = math.random(#ids)
  ok, other = 0, 0
end

function request()
  n = n % #ids + 1
  return wrk.format("GET", "/?session=" .. ids[n])
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local ok_total, other_total = 0, 0
  for _, thread in ipairs(threads) do
    ok_total = ok_total + thread:get("ok")
    other_total = other_total + thread:get("other")
  end
  io.write(string.format("STATUS ok=%d other=%d\n", ok_total, other_total))
end
