"""User-facing front ends (the ``plugdiff`` command and the Gradio web UI): thin layers over the
pipelines, with no algorithm code."""
