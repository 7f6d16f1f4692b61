-- wrk script: sends /forward-auth requests as Traefik does, with the key(s) named by
-- the environment: KEY (one key) or KEYS_FILE (one key per line, cycled through, so
-- every request carries a different key).
--
-- CLOSE=1 adds `Connection: close`: the server closes after each answer and wrk opens a
-- new connection for the next request (a check per connection, as nginx's auth_request
-- does without an upstream `keepalive`).
-- PROXY=1 sends what a client sends to a proxy in front of keygate instead: GET
-- /v1/items?page=2 with only the key (the proxy writes the rest).
local keys = {}
local n = 0

local file = os.getenv("KEYS_FILE")
if file then
  for line in io.lines(file) do
    n = n + 1
    keys[n] = line
  end
else
  keys[1] = os.getenv("KEY") or "kg_missing"
  n = 1
end

local i = 0
-- GATE_PATH: another gate's endpoint (the AKAS peer answers on /auth).
local path = os.getenv("GATE_PATH") or "/forward-auth"
local headers = {
  ["X-Forwarded-Method"] = "GET",
  ["X-Forwarded-Proto"] = "https",
  ["X-Forwarded-Host"] = "api.example.com",
  ["X-Forwarded-Uri"] = "/v1/items?page=2",
  ["X-Forwarded-For"] = "203.0.113.7",
}
if os.getenv("PROXY") == "1" then
  path = "/v1/items?page=2"
  headers = { ["Host"] = "api.example.com" }
end
if os.getenv("CLOSE") == "1" then
  headers["Connection"] = "close"
end

request = function()
  i = i % n + 1
  headers["Authorization"] = "Bearer " .. keys[i]
  return wrk.format("GET", path, headers)
end
