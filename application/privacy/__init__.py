"""Personal data: data keys, sealing and disclosure, erasure, and who read what."""
