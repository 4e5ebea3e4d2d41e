"""The fleet: nodes that share one bucket tier and coordinate through Redis.

Above the cache and below the server: a node's purges go to every other node (a Redis
Stream, with a durable record in the shared tier), each node says it is alive and how
far it has applied them (heartbeats), and the fleet's own process on each node follows
the stream. Without `[fleet]` in the config nothing here runs. docs/fleet.md says what
it promises.
"""
