"""The activation-memory planner every native build uses: one arena, tensors
placed by lifetime, reshapes free, element-wise ops in place, a layer's
working memory planned as a tensor alive during that layer, and a layer's
output written over its dying input where its kernel allows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from harness.model.ir import ALIASING, ELEMENTWISE, Graph, numel


@dataclass
class MemoryPlan:
    """Where every tensor lives.

    ``root[t]`` is the tensor whose buffer ``t`` shares (itself if it owns
    one); ``storage[root]`` is ("input", 0), ("output", 0) or ("arena", offset
    in floats). ``copy_output`` is set when the output is the input itself
    (an identity model) and must be copied.
    """

    root: dict[str, str]
    storage: dict[str, tuple[str, int]]
    arena_size: int  # in the caller's units (floats here, bytes for the integer engine)
    lifetimes: dict[str, tuple[int, int]]
    copy_output: bool = False
    # Start of a tensor inside its root's buffer (non-zero only for outputs
    # overlapped onto their input, see plan_memory's ``overlap``).
    shift: dict[str, int] = field(default_factory=dict)

    @property
    def arena_floats(self) -> int:
        return self.arena_size

    def location(self, tensor: str) -> tuple[str, int]:
        """("input" | "output" | "arena", offset) of a tensor's first element."""
        kind, offset = self.storage[self.root.get(tensor, tensor)]
        return kind, offset + self.shift.get(tensor, 0)


Rect = tuple[int, int, int, int]  # offset, size, first layer, last layer


def _fits(base: int, mine: list[Rect], placed: list[Rect]) -> bool:
    """No rectangle of ``mine`` at ``base`` meets a placed one in both bytes and time."""
    return all(base + rel + size <= off or off + osize <= base + rel
               for rel, size, start, end in mine
               for off, osize, s, e in placed if not (e < start or end < s))


def scratch_name(layer_index: int) -> str:
    """The pseudo-tensor holding a layer's working memory (im2col columns)."""
    return f"#scratch{layer_index}"


def plan_memory(graph: Graph, size_of: Callable[[str], int] | None = None,
                scratch: dict[int, int] | None = None,
                overlap: dict[int, int] | None = None,
                output_in_arena: bool = False, steady_prefix: int = 0) -> MemoryPlan:
    """Assign buffers to tensors; see the module docstring for the rules.

    Args:
        size_of: size of a tensor's buffer in arena units (default: its
            element count, i.e. floats).
        scratch: layer index -> working memory that layer needs, in the same
            units; planned like a tensor alive during that layer only.
        overlap: layer index -> d: that layer's kernel may write its output
            over its (dying) input when the output starts d units before
            the input (the kernel reads ahead of where it writes). Used when
            the input dies there and the output does not become the graph
            output.
        output_in_arena: the graph output gets an arena buffer like any
            tensor instead of the caller's output buffer (a spiking model's
            caller buffer holds the readout over the timesteps).
        steady_prefix: the first layers run once before the timestep loop
            (Graph.steady_prefix): what they make and the loop reads stays
            alive to the end, since every step reads it again.
    """
    size_of = size_of or (lambda t: numel(graph.shape_of(t)))
    n = len(graph.layers)
    uses: dict[str, list[int]] = {graph.input_name: []}
    for layer in graph.layers:
        uses[layer.output] = []
    for i, layer in enumerate(graph.layers):
        for t in layer.inputs:
            uses[t].append(i)
    uses[graph.output].append(n)  # the output is read after the last layer
    steady = {layer.output for layer in graph.layers[:steady_prefix]}
    for layer in graph.layers[steady_prefix:]:
        for t in layer.inputs:
            if t in steady:
                uses[t].append(n)

    root: dict[str, str] = {graph.input_name: graph.input_name}
    members: dict[str, list[str]] = {graph.input_name: [graph.input_name]}
    defined: dict[str, int] = {graph.input_name: -1}
    shift: dict[str, int] = {graph.input_name: 0}
    # Tensors that may end up in the caller's output buffer: never overlapped.
    to_output = {graph.output}
    for layer in reversed(graph.layers):
        if layer.output in to_output and layer.op in ALIASING | ELEMENTWISE:
            to_output.update(layer.inputs)

    def last_use(r: str) -> int:
        return max((u for t in members[r] for u in uses[t]), default=defined[r])

    for i, layer in enumerate(graph.layers):
        r = layer.output
        shift[r] = 0
        if layer.op in ALIASING:
            r = root[layer.inputs[0]]
            shift[layer.output] = shift[layer.inputs[0]]
        elif layer.op in ELEMENTWISE:
            for t in layer.inputs:
                cand = root[t]
                # In place only into a buffer nobody reads after this layer.
                if cand != graph.input_name and last_use(cand) <= i:
                    r = cand
                    shift[layer.output] = shift[t]
                    break
        elif overlap and i in overlap and layer.output not in to_output:
            t = layer.inputs[0]
            cand = root[t]
            if cand != graph.input_name and last_use(cand) <= i:
                r = cand
                shift[layer.output] = shift[t] - overlap[i]
        root[layer.output] = r
        if r == layer.output:
            members[r] = [r]
            defined[r] = i
        else:
            members[r].append(layer.output)

    out_root = root[graph.output]
    storage: dict[str, tuple[str, int]] = {graph.input_name: ("input", 0)}
    copy_output = out_root == graph.input_name and not output_in_arena
    if not copy_output and not output_in_arena:
        storage[out_root] = ("output", 0)

    # Every tensor is a rectangle (offset in its buffer, size) x (layer that
    # makes it, last layer that reads it). A buffer is placed as the set of
    # its members' rectangles, so a buffer that shrinks over time (a conv
    # written over its input, then a pool in place) frees what it no longer
    # holds.
    made = {graph.input_name: -1, **{layer.output: i for i, layer in enumerate(graph.layers)}}
    lifetimes: dict[str, tuple[int, int]] = {}
    sizes: dict[str, int] = {}
    rects: dict[str, list[Rect]] = {}  # offsets relative to the buffer
    for r in members:
        # A buffer spans all its members; overlapped ones start before the root.
        low = min(shift[m] for m in members[r])
        for m in members[r]:
            shift[m] -= low
        if r in storage:
            continue
        lifetimes[r] = (defined[r], last_use(r))
        sizes[r] = max(shift[m] + size_of(m) for m in members[r])
        rects[r] = [(shift[m], size_of(m), made[m], max(uses[m], default=made[m]))
                    for m in members[r]]
    for i, units in (scratch or {}).items():
        lifetimes[scratch_name(i)] = (i, i)
        sizes[scratch_name(i)] = units
        rects[scratch_name(i)] = [(0, units, i, i)]

    placed: list[Rect] = []
    arena = 0
    for r in sorted(lifetimes, key=lambda t: (-sizes[t], lifetimes[t][0])):
        mine = rects[r]
        candidates = sorted({0} | {off + osize - rel for off, osize, _, _ in placed
                                   for rel, _, _, _ in mine if off + osize - rel > 0})
        offset = next(b for b in candidates if _fits(b, mine, placed))
        placed += [(offset + rel, size, start, end) for rel, size, start, end in mine]
        storage[r] = ("arena", offset)
        arena = max(arena, offset + sizes[r])
    return MemoryPlan(root, storage, arena, lifetimes, copy_output, shift)
