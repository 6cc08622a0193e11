"""Running a model on a recording: the chunked engine (``inference.separate``), the stitching of
chunks by speaker profiles, the device, and the estimate of a run's time and memory."""
