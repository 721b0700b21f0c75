"""One measured run: prepare (check and build), a target that infers, one
streaming loop, the store rows, energy."""
