"""Writers of standard model formats from bench's graphs (.tflite)."""
