"""Load generators: byte-counting sinks and full-parsing probes (swarm.py), open-loop
publishers (publisher.py), ingest clients (ingest.py). Each runs as its own process and is
driven by the harness with JSON lines on stdin/stdout (control.py)."""
