"""Sources and sinks (import as ``sensory.io``; this folder is never imported as ``io``)."""
