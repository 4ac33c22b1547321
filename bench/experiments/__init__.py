"""Experiments: the product app with one hot-path change patched in at import time, to
measure a recommendation before anyone changes realtime/. Never used by the product."""
