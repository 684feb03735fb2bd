"""
The Redis scripts of groups and presence: each is one atomic round trip.

Keys (``P`` is ``KEY_PREFIX``):

=============================  =============================================================
``P:grp:<scope>``              hash, group -> ``"<join seq> <metadata JSON>"``: the groups a
                               scope (``window:<id>``, ``session:<id>``, ``user:<name>``) is in
``P:gleft:<scope>``            hash, group -> ``"<join seq> <leave seq>,..."``: memberships that
                               ended less than ``LOG_RETENTION`` ago (exact replay after them)
``P:win:<window>``             hash: ``holder``, ``conn``, ``member``, ``user``, ``scopes``: a
                               connected window (websocket, or HTTP polling)
``P:wgrp:<window>``            set: the groups whose presence counts this window
``P:held:<holder>``            set: the windows a holder (a ``runwebsocket`` process, or one
                               polling window) keeps connected
``P:holders``                  sorted set, holder -> deadline (Unix time): past it, the holder
                               is dead and its windows leave
``P:pcnt:<group>``             hash, member -> windows of the member in the group
``P:pjoin:<group>``            sorted set, member -> when it joined (the presence order)
``P:pmeta:<group>``            hash, member -> its presence entry (JSON, without ``windows``)
``P:membership``               channel: ``"join|leave\\n<scope>\\n<group>\\n<seq>"`` for routers
=============================  =============================================================

Invariants, kept by every script: a window is in ``P:wgrp:<window>`` for a
group exactly when it is connected and one of its scopes is in the group;
``P:pcnt`` counts those windows per member; a member's entry exists exactly
while its count is above 0, and its first window entering publishes a
``floorkit.presence`` ``joined`` message to the group, its last leaving a
``left`` one. Membership changes publish a ``floorkit.membership`` message to
the scope. Both are numbered and logged by ``publish_message()``
(``floorkit.delivery.publish``), so they replay like any other message.

Every script takes the same first ARGV: prefix, ``LOG_MAXLEN``, log TTL (0:
no log), a 32-hex id base for the messages it publishes, the trace and hop
(JSON literals) they carry, and the time now.
"""

from __future__ import annotations

from floorkit.delivery.publish import PUBLISH_FUNCTION

_COMMON = (
    PUBLISH_FUNCTION
    + r"""
local P = ARGV[1]
local MAXLEN, TTL = tonumber(ARGV[2]), tonumber(ARGV[3])
local IDS, TRACE, HOP, NOW = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local sent = 0

-- publish one floorkit message (kwargs: a JSON object) to one address; return its seq
local function send(address, signal, kwargs)
  sent = sent + 1
  local payload = '{"type":"signal","id":"' .. string.sub(IDS, 1, 28) .. string.format('%04x', sent)
    .. '","signal":"' .. signal .. '","kwargs":' .. kwargs .. ',"trace":' .. TRACE .. ',"hop":' .. HOP .. '}'
  return publish_message(P .. ':seq', P .. ':epoch', payload, MAXLEN, TTL,
    {P .. ':log:' .. address}, {P .. ':ch:' .. address})
end

local function scopes_of(window)
  local scopes = {}
  local joined = redis.call('HGET', P .. ':win:' .. window, 'scopes')
  if joined then
    for scope in string.gmatch(joined, '[^\n]+') do scopes[#scopes + 1] = scope end
  end
  return scopes
end

-- the metadata of the first of the window's scopes in the group, else nil
local function membership_meta(window, group)
  for _, scope in ipairs(scopes_of(window)) do
    local value = redis.call('HGET', P .. ':grp:' .. scope, group)
    if value then return string.sub(value, string.find(value, ' ', 1, true) + 1) end
  end
  return nil
end

-- a connected window whose scopes are in the group enters its presence (once)
local function enter(window, group)
  local win = P .. ':win:' .. window
  local member = redis.call('HGET', win, 'member')
  if not member then return 0 end
  local meta = membership_meta(window, group)
  if not meta then return 0 end
  if redis.call('SADD', P .. ':wgrp:' .. window, group) == 0 then return 0 end
  if redis.call('HINCRBY', P .. ':pcnt:' .. group, member, 1) == 1 then
    local user = redis.call('HGET', win, 'user')
    local entry = '{"id":' .. cjson.encode(member) .. ',"user":'
      .. ((user and user ~= '') and cjson.encode(user) or 'null')
      .. ',"joined_at":' .. NOW .. ',"meta":' .. meta .. '}'
    redis.call('ZADD', P .. ':pjoin:' .. group, NOW, member)
    redis.call('HSET', P .. ':pmeta:' .. group, member, entry)
    send('group:' .. group, 'floorkit.presence',
      '{"group":"' .. group .. '","joined":[' .. entry .. '],"left":[]}')
  end
  return 1
end

-- a window leaves the group's presence (once); its member leaves with its last window
local function exit(window, group)
  if redis.call('SREM', P .. ':wgrp:' .. window, group) == 0 then return 0 end
  local member = redis.call('HGET', P .. ':win:' .. window, 'member')
  if not member then return 0 end
  local count = P .. ':pcnt:' .. group
  if redis.call('HINCRBY', count, member, -1) <= 0 then
    local pmeta = P .. ':pmeta:' .. group
    local entry = redis.call('HGET', pmeta, member) or ('{"id":' .. cjson.encode(member) .. '}')
    redis.call('HDEL', count, member)
    redis.call('HDEL', pmeta, member)
    redis.call('ZREM', P .. ':pjoin:' .. group, member)
    send('group:' .. group, 'floorkit.presence',
      '{"group":"' .. group .. '","joined":[],"left":[' .. entry .. ']}')
  end
  return 1
end

local function in_group(window, group)
  return membership_meta(window, group) ~= nil
end

-- a window's membership lives while it is connected, then WINDOW_TTL seconds
local function keep_window_groups(window, ttl)
  local key = P .. ':grp:window:' .. window
  if redis.call('EXISTS', P .. ':win:' .. window) == 1 then
    redis.call('PERSIST', key)
  elseif ttl > 0 then
    redis.call('EXPIRE', key, ttl)
  end
end

-- a connected window leaves every group's presence and is forgotten
local function window_gone(window, window_ttl)
  local win = P .. ':win:' .. window
  for _, group in ipairs(redis.call('SMEMBERS', P .. ':wgrp:' .. window)) do
    exit(window, group)
  end
  local holder = redis.call('HGET', win, 'holder')
  if holder then redis.call('SREM', P .. ':held:' .. holder, window) end
  redis.call('DEL', win, P .. ':wgrp:' .. window)
  keep_window_groups(window, window_ttl)
end
"""
)

# ARGV[8..]: scope, group, metadata JSON, the caller's window in that scope
# ('' if none), the membership message's kwargs, the scope's TTL (0: none),
# the window of a window scope ('' otherwise). Returns the join's seq.
JOIN = (
    _COMMON
    + r"""
local scope, group, meta, window = ARGV[8], ARGV[9], ARGV[10], ARGV[11]
local grp = P .. ':grp:' .. scope
local existing = redis.call('HGET', grp, group)
local seq
if existing then
  seq = tonumber(string.match(existing, '^%d+'))
  redis.call('HSET', grp, group, seq .. ' ' .. meta)
else
  seq = send(scope, 'floorkit.membership', ARGV[12])
  redis.call('HSET', grp, group, seq .. ' ' .. meta)
  redis.call('PUBLISH', P .. ':membership', 'join\n' .. scope .. '\n' .. group .. '\n' .. seq)
end
local ttl = tonumber(ARGV[13])
if ARGV[14] ~= '' then
  keep_window_groups(ARGV[14], ttl)
elseif ttl > 0 then
  redis.call('EXPIRE', grp, ttl)
end
if window ~= '' then enter(window, group) end
return seq
"""
)

# ARGV[8..]: scope, group, the caller's window in that scope ('' if none), the
# membership message's kwargs. Returns the leave's seq, or false when the
# scope was not in the group.
LEAVE = (
    _COMMON
    + r"""
local scope, group, window = ARGV[8], ARGV[9], ARGV[10]
local grp = P .. ':grp:' .. scope
local existing = redis.call('HGET', grp, group)
if not existing then return false end
redis.call('HDEL', grp, group)
local seq = send(scope, 'floorkit.membership', ARGV[11])
local left = P .. ':gleft:' .. scope
local ranges = redis.call('HGET', left, group)
local range = string.match(existing, '^%d+') .. ' ' .. seq
ranges = ranges and (ranges .. ',' .. range) or range
if #ranges > 400 then ranges = string.sub(ranges, string.find(ranges, ',', #ranges - 400, true) + 1) end
redis.call('HSET', left, group, ranges)
redis.call('EXPIRE', left, math.max(TTL, 1))
redis.call('PUBLISH', P .. ':membership', 'leave\n' .. scope .. '\n' .. group .. '\n' .. seq)
if window ~= '' and not in_group(window, group) then exit(window, group) end
return seq
"""
)

# ARGV[8..]: window, holder, conn, member, user ('' if anonymous), the
# holder's deadline, then the window's scopes. Records the window as
# connected (taking it over from another holder), enters the presence of its
# groups, leaves that of groups it is no longer in. Returns {seq now,
# {group, join seq, scope, ...}, {group, "join leave,...", ...}}.
CONNECT = (
    _COMMON
    + r"""
local window, holder, conn = ARGV[8], ARGV[9], ARGV[10]
local win = P .. ':win:' .. window
local previous = redis.call('HGET', win, 'holder')
if previous and previous ~= holder then redis.call('SREM', P .. ':held:' .. previous, window) end
local scopes = {}
for i = 14, #ARGV do scopes[#scopes + 1] = ARGV[i] end
redis.call('HSET', win, 'holder', holder, 'conn', conn, 'member', ARGV[11], 'user', ARGV[12],
  'scopes', table.concat(scopes, '\n'))
redis.call('SADD', P .. ':held:' .. holder, window)
redis.call('ZADD', P .. ':holders', ARGV[13], holder)
keep_window_groups(window, 0)
local groups, flat, left = {}, {}, {}
for _, scope in ipairs(scopes) do
  local entries = redis.call('HGETALL', P .. ':grp:' .. scope)
  for i = 1, #entries, 2 do
    groups[entries[i]] = true
    flat[#flat + 1] = entries[i]
    flat[#flat + 1] = string.match(entries[i + 1], '^%d+')
    flat[#flat + 1] = scope
  end
  local ended = redis.call('HGETALL', P .. ':gleft:' .. scope)
  for i = 1, #ended do left[#left + 1] = ended[i] end
end
for _, group in ipairs(redis.call('SMEMBERS', P .. ':wgrp:' .. window)) do
  if groups[group] == nil then exit(window, group) end
end
for i = 1, #flat, 3 do enter(window, flat[i]) end
return {tonumber(redis.call('GET', P .. ':seq') or '0'), flat, left}
"""
)

# ARGV[8..]: window, conn ('' for any), holder ('' for any), WINDOW_TTL. The
# window's connection ended: unless another connection took the window over
# since, it leaves every presence. Returns 1 if it did, else 0.
GONE = (
    _COMMON
    + r"""
local window, conn, holder = ARGV[8], ARGV[9], ARGV[10]
local win = P .. ':win:' .. window
if conn ~= '' and redis.call('HGET', win, 'conn') ~= conn then return 0 end
if holder ~= '' and redis.call('HGET', win, 'holder') ~= holder then
  redis.call('SREM', P .. ':held:' .. holder, window)
  return 0
end
window_gone(window, tonumber(ARGV[11]))
return 1
"""
)

# ARGV[8..]: window, group. After a membership notice, a holder makes the
# window's presence follow its membership: enters if one of its scopes is in
# the group, leaves if none is. Returns 1 if it entered, -1 if it left, else 0.
FOLLOW = (
    _COMMON
    + r"""
local window, group = ARGV[8], ARGV[9]
if in_group(window, group) then return enter(window, group) end
return -exit(window, group)
"""
)

# ARGV[8..]: group, offset, limit. Returns {members in total, entries...,
# window counts...} for the members in join order from ``offset``.
READ = r"""
local group = ARGV[8]
local pjoin = ARGV[1] .. ':pjoin:' .. group
local offset, limit = tonumber(ARGV[9]), tonumber(ARGV[10])
local members = redis.call('ZRANGE', pjoin, offset, offset + limit - 1)
local reply = {redis.call('ZCARD', pjoin)}
if #members > 0 then
  local entries = redis.call('HMGET', ARGV[1] .. ':pmeta:' .. group, unpack(members))
  local counts = redis.call('HMGET', ARGV[1] .. ':pcnt:' .. group, unpack(members))
  for i = 1, #members do
    reply[#reply + 1] = entries[i] or false
    reply[#reply + 1] = counts[i] or false
  end
end
return reply
"""


def run(source: str, args: list, action: str, trace: str | None = None, hop: str | None = None):
    """
    Run the script ``source`` with the common ARGV, then ``args``; messages it
    publishes carry ``trace`` and ``hop``. Raise ``RedisUnavailable`` (naming
    ``action``) when Redis cannot be reached: then nothing changed.
    """
    import json
    import time
    import uuid

    from floorkit import conf
    from floorkit.delivery.redis_client import get_redis, lua_script, redis_errors

    common = [
        conf.get("KEY_PREFIX"),
        conf.get("LOG_MAXLEN"),
        conf.get("LOG_RETENTION") if conf.get("MESSAGE_LOG") else 0,
        uuid.uuid4().hex,
        json.dumps(trace),
        json.dumps(hop),
        f"{time.time():.3f}",
    ]
    client = get_redis()
    with redis_errors(action):
        return lua_script(client, source)(keys=[], args=[*common, *args], client=client)


def change_membership(change, action: str) -> int | None:
    """Apply a ``floorkit.groups.membership.MembershipChange`` in Redis; its seq, or None."""
    if change.joined:
        args = [change.scope, change.group, change.meta, change.window, change.notice, change.ttl]
        args.append(change.scope[len("window:") :] if change.scope.startswith("window:") else "")
        seq = run(JOIN, args, action, change.trace, change.hop)
    else:
        args = [change.scope, change.group, change.window, change.notice]
        seq = run(LEAVE, args, action, change.trace, change.hop)
    return None if seq is None else int(seq)


def read_presence(group: str, offset: int, limit: int) -> tuple[int, list[dict]]:
    """``(members in all, the page of members from offset)`` of ``group``, from Redis."""
    import json

    count, *pairs = run(READ, [group, offset, limit], f"reading presence of {group}")
    members = []
    for entry, windows in zip(pairs[0::2], pairs[1::2], strict=True):
        member = json.loads(entry)
        member["windows"] = int(windows or 0)
        members.append(member)
    return int(count), members
