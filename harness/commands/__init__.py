"""One module per bench command; harness/cli.py parses, these act."""
