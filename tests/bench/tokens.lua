-- wrk script: GET one resource with a different bearer token per request.
--   TOKENS=FILE START=N wrk ... -s tokens.lua URL
-- Tokens come from FILE (one per line, `loadgen mint`), starting at line
-- N and wrapping around; done() says whether any token was sent twice in
-- this run (then the figure is not all fresh tokens).
local toks = {}
local i = 0
local start = 0

for line in io.lines(os.getenv("TOKENS")) do toks[#toks + 1] = line end
start = tonumber(os.getenv("START") or "0") % #toks

function request()
  local t = toks[(start + i) % #toks + 1]
  i = i + 1
  return wrk.format("GET", nil, {["Authorization"] = "Bearer " .. t})
end

function done(summary, latency, requests)
  if summary.requests > #toks then
    io.write(string.format("tokens: %d requests but only %d tokens: some "
                           .. "were sent twice\n", summary.requests, #toks))
  end
end
