-- Polls sessions of the original protocol, round robin over the session ids in the file given
-- after "--". No response() hook: wrk would copy every body into Lua and become the bottleneck;
-- the byte rate comes from wrk's own count ("Transfer/sec"), where small 202s weigh nothing.
function init(args)
  ids = {}
  for line in io.lines(args[1]) do
    ids[#ids + 1] = line
  end
  n = math.random(#ids)
end

function request()
  n = n % #ids + 1
  return wrk.format("GET", "/?session=" .. ids[n])
end
