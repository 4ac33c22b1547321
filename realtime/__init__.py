"""The realtime gateway of VendHub, in two layers: `realtime.server`, a generic Socket.IO
server on Channels that imports nothing of the product, and the product modules beside it
(rooms, events, the namespace, authentication and authorization, the one publish door)
that use it."""
