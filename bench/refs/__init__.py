"""Reference servers, each the plainest idiomatic way to fan a frame out with its stack.

All of them accept `{"subscribe": room}` text frames (raw references) or a `subscribe`
event with an ack (python-socketio), so the same load generators drive every server.
"""
