-- wrk script of bench/serving: POST the body in $WRK_BODY (a file); ours says in Server-Timing how long the
-- model's predict took and the whole answer in the server; one RESULT line of JSON at the end.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local body_file = assert(io.open(os.getenv("WRK_BODY"), "r"))
wrk.body = body_file:read("*a")
body_file:close()
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args) model_ms = {}; server_ms = {} end
response = function(status, headers, body)
  local timing = headers["server-timing"]
  if timing then
    model_ms[#model_ms + 1] = tonumber(timing:match("predict;dur=([%d.]+)"))
    server_ms[#server_ms + 1] = tonumber(timing:match("server;dur=([%d.]+)"))
  end
end
local function median(name)
  local all = {}
  for _, t in ipairs(threads) do for _, v in ipairs(t:get(name)) do all[#all + 1] = v end end
  table.sort(all)
  return all[math.floor(#all / 2) + 1] or -1
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %d, "seconds": %f, "non2xx": %d, "socket_errors": %d, ' ..
    '"p50_ms": %f, "p99_ms": %f, "model_p50_ms": %f, "server_p50_ms": %f}\n', summary.requests,
    summary.duration / 1e6, e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, median("model_ms"), median("server_ms")))
end
