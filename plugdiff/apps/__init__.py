"""User-facing front ends (the ``plugdiff`` CLI; later the Gradio app): thin layers over the
pipelines, with no algorithm code."""
