"""TensorFlow Lite Micro as a peer engine: its host interpreter
(interpreter.py) and firmware built from a user's TFLM tree (firmware.py)."""
