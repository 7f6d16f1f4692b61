-- wrk script: sends /forward-auth requests as Traefik does, with the key(s) named by
-- the environment: KEY (one key) or KEYS_FILE (one key per line, cycled through, so
-- every request carries a different key).
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
local headers = {
  ["X-Forwarded-Method"] = "GET",
  ["X-Forwarded-Proto"] = "https",
  ["X-Forwarded-Host"] = "api.example.com",
  ["X-Forwarded-Uri"] = "/v1/items?page=2",
  ["X-Forwarded-For"] = "203.0.113.7",
}

request = function()
  i = i % n + 1
  headers["Authorization"] = "Bearer " .. keys[i]
  return wrk.format("GET", "/forward-auth", headers)
end
