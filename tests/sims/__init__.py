"""Test doubles for hardware that cannot exist here (power meters), each
speaking its instrument's real wire protocol over a real socket or pty."""
