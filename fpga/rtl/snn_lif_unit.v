// One neuron update, combinational: the synaptic accumulator is requantized
// to the layer's current (pot scheme: shift_round, then clamp) and one
// IF/LIF step is taken on the potential, bit for bit as bench's integer
// reference (harness/quant/lif.py int_step, harness/quant/reference.py
// shift_round; firmware/kernels/q/lif_q.c). The reference computes in 64
// bits; 36 suffice for the ranges the host admits (16-bit states, requant
// shift in [-3, 31], in_shift in [-3, 33] and |current x in_mult << -in_shift| <
// 2**33), which harness/fpga/core.py checks: a narrower datapath is what
// lets the core fit an iCE40 UP5K's LUTs.
module snn_lif_unit (
    input  wire signed [31:0] acc_i,        // accumulator + bias, wrapped to 32 bits
    input  wire signed [7:0]  req_shift_i,  // > 0 right shift with rounding, <= 0 left
    input  wire signed [31:0] act_min_i,
    input  wire signed [31:0] act_max_i,
    input  wire signed [15:0] v_i,          // potential before the step
    input  wire [1:0]         decay_mode_i, // 0 none, 1 shift, 2 Q15 multiply
    input  wire [4:0]         decay_shift_i,
    input  wire [15:0]        decay_mult_i,
    input  wire [15:0]        in_mult_i,
    input  wire signed [7:0]  in_shift_i,
    input  wire signed [31:0] offset_i,
    input  wire signed [31:0] threshold_i,
    input  wire signed [31:0] v_reset_i,
    input  wire [1:0]         reset_i,      // 0 subtract, 1 zero, 2 none
    input  wire               fire_ge_i,
    input  wire               pre_reset_i,
    input  wire               post_reset_i,
    input  wire signed [31:0] lo_i,         // the state dtype's range
    input  wire signed [31:0] hi_i,
    output reg  signed [15:0] v_o,
    output reg                spike_o
);
  localparam int W = 36;
  localparam logic signed [W-1:0] I32Min = -(36'sd1 <<< 31);
  localparam logic signed [W-1:0] I32Max = (36'sd1 <<< 31) - 1;

  function automatic logic signed [W-1:0] sat(input logic signed [W-1:0] x,
                                              input logic signed [W-1:0] lo,
                                              input logic signed [W-1:0] hi);
    sat = x < lo ? lo : (x > hi ? hi : x);
  endfunction

  function automatic logic fires(input logic signed [W-1:0] v, input logic signed [W-1:0] thr,
                                 input logic ge);
    fires = ge ? (v >= thr) : (v > thr);
  endfunction

  logic signed [W-1:0] acc, y, v, thr, vr, lo, hi, decayed, in_full, h;
  logic signed [16:0] base, dec;
  logic signed [33:0] dprod;
  logic signed [15:0] cur;  // the current, clamped to the layer's (16-bit) activation range
  logic [5:0] rsh;
  logic r, s;

  always @* begin
    lo = W'(lo_i);
    hi = W'(hi_i);
    thr = W'(threshold_i);
    vr = W'(v_reset_i);
    // requantization (harness/quant/reference.py shift_round), then the clamp
    acc = W'(acc_i);
    if (req_shift_i > 0) begin
      rsh = 6'(req_shift_i);
      y = acc + (W'(1) <<< (rsh - 6'd1));  // adds a positive half: only the top can saturate
      y = (y > I32Max ? I32Max : y) >>> rsh;
    end else begin
      rsh = 6'(-req_shift_i);
      y = sat(acc <<< rsh[1:0], I32Min, I32Max);  // the host admits left shifts up to 3
    end
    cur = 16'(sat(y, W'(act_min_i), W'(act_max_i)));
    // the neuron (harness/quant/lif.py int_step)
    v = W'(v_i);
    r = pre_reset_i ? fires(v, thr, fire_ge_i) : 1'b0;
    // The leak works on 17 bits: the potential and the reset value are 16-bit.
    base = (reset_i == 2'd1 && r) ? 17'(v_reset_i) : 17'(v_i);
    dprod = '0;
    case (decay_mode_i)
      2'd1: dec = base - (base >>> decay_shift_i);
      2'd2: begin  // a 17 x 17-bit product: one DSP
        dprod = base * $signed({1'b0, decay_mult_i});
        dec = 17'((dprod + 34'sd16384) >>> 15);
      end
      default: dec = base;
    endcase
    decayed = W'(dec);
    in_full = W'(17'(cur) * $signed({1'b0, in_mult_i}));
    if (in_shift_i > 0) begin
      rsh = 6'(in_shift_i);
      in_full = (in_full + (W'(1) <<< (rsh - 6'd1))) >>> rsh;
    end else begin
      rsh = 6'(-in_shift_i);
      in_full = in_full <<< rsh[1:0];  // the host admits left shifts up to 3
    end
    h = decayed + in_full + W'(offset_i);
    if (reset_i == 2'd0 && r) h = h - thr;
    h = sat(h, lo, hi);
    s = fires(h, thr, fire_ge_i);
    if (post_reset_i && s != r) begin
      // s - r = +1: a spike to reset; -1: snnTorch undoing a reset done before the step
      if (reset_i == 2'd0) h = sat(s ? h - thr : h + thr, lo, hi);
      else if (reset_i == 2'd1) h = s ? vr : sat(h + (h - vr), lo, hi);
    end
    v_o = 16'(h);
    spike_o = s;
  end
endmodule
