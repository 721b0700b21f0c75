"""The qualia engine: LEAT's Qualia-CodeGen (``qualia-codegen-core`` 2.6.0) as
a peer, built with our runtime, board support and flags (engine.py; the
rebuilt torch module in modules.py; Qualia's run and our wrapper in convert.py).
Spiking graphs go through its SNN plugin (``qualia-codegen-plugin-snn``
2.6.0): neurons.py says which IF/LIF it can compute, snn.py its formats
and the T-step wrapper.

Flow of ``generate()``:

1. Our Graph IR (BatchNorm folded) is rebuilt as an fx-traceable
   ``nn.Module`` of standard torch layers, one submodule per IR layer, and
   checked against ``harness.model.reference.run_graph`` on random inputs.
2. Qualia's ``TorchModelGraph`` traces it; every node gets a
   ``Quantization`` (number type, width, long width, power-of-two scale
   factors) computed from OUR calibration ranges (see ``frac_bits``).
3. Qualia's ``Converter`` fuses ReLUs, quantizes the weights, allocates its
   activation unions and renders its Jinja templates into ``out_dir/qualia``
   (``model.c`` includes every layer and weight file; ``include/model.h``
   declares ``qualia_net(const input_t, output_t)``).
4. ``out_dir/model.c`` (ours) defines ``bench_model_info`` and
   ``bench_model_run()``, which calls ``qualia_net``.

Layout: Qualia's C is channels-last ((L, C), (H, W, C)) while the graph is
channels-first. The build declares ``input_layout``/``output_layout``
"hwc", so the host sends inputs in Qualia's order and reorders its outputs:
the wrapper passes the caller's buffers straight through (no copy, no
extra RAM, nothing added to the timed region). ``arena_bytes`` is what
Qualia's allocator reserves: the sum of its ``static union activationsN``
(the graph output goes to the caller's buffer). Some templates also keep
static scratch (conv2d accumulators, maxpool1d running max), reported as
``extra["scratch_bytes"]``; both are in the ELF's RAM figure.

Integer formats (Qualia: per-layer symmetric power-of-two fixed point, as
its ``Quantizer`` computes them for ``quantype='fxp'`` and minmax ranges): a
tensor whose largest magnitude is ``m`` gets ``width - 2 - floor(log2 m)``
fractional bits (``width - 2`` when ``m`` is 0). Activations use ``m`` from
our calibration range of that tensor; weights and biases use their own
``max |w|`` and ``max |b|`` (Qualia's separate bias quantizer: bias_q). Round
mode is nearest for weights and activations. Accumulators: 32 bits for int16
(Qualia's default) and for int8 (Qualia's default is 16 bits, which wraps on
ordinary post-training ranges; see ``LONG_WIDTH``). One addition to Qualia's
rule: a conv/linear accumulator holds its sum with q_in + max(q_w, q_b)
fractional bits, which overflows 32 bits for int16 (e.g. 13 + 18); q_w and
q_b are lowered just enough for the calibrated pre-activation range to fit
(``formats[...]["headroom_capped"]`` in the build's extra says where).

What Qualia 2.6.0 cannot express (EngineError naming the layer): dilated
convolutions, non-square 2-D kernels (its conv2d template declares the
kernel [KX][KY] but indexes it [y][x]), padded max/avg pooling, reshape
other than flatten, ReLU6 after add/pooling, an activation whose input is
also read raw elsewhere (Qualia fuses every ReLU into its producer). Global
average pooling becomes an average pool over the whole map (its integer
mean truncates, as Qualia's template does); the residual add is Qualia's own
Add layer (registered as a custom layer, as qualia-core does).
"""
