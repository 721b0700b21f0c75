"""bench's own engine: graph IR -> C for float32 (float32.py) and int8/int16
(integer.py), with kernels in firmware/kernels/."""
