// The event-driven SNN engine: every layer of the network, one after the
// other, on one shared datapath (time-multiplexed), each timestep:
//
//   events:  pop spike events (c, y, x) from the layer's input FIFO (layer 0:
//            the sample's non-zero input values, listed once per inference)
//            and scatter each one's weights into the layer's accumulators:
//            acc[co, y+pad-ky, x+pad-kx] += w[ci, ky, kx, co] * value
//            (a fully connected layer is the 1x1 case over the flattened
//            input index). Cost follows events: 2 clocks per synapse.
//   update:  (the timestep barrier) every neuron once: requantize its
//            accumulator plus bias, take one IF/LIF step (snn_lif_unit),
//            clear the accumulator, count the spike, and push an event per
//            spiking max-pool window into the next layer's FIFO (or count it
//            into the outputs for the last layer). 2 clocks per neuron.
//
// Two event FIFOs alternate between layers. Weights, potentials and
// accumulators live in single-port SPRAM-shaped memories, the rest in block
// RAM. The cycle counter runs from start_i to done_o.
module snn_engine #(
    parameter int MaxLayers = 8,
    parameter int WeightDepth = 16384,
    parameter int BiasDepth = 512,
    parameter int PotDepth = 16384,
    parameter int AccDepth = 16384,
    parameter int InDepth = 256,
    parameter int EvDepth = 512,
    parameter int MaxOutputs = 16,
    localparam int LW = $clog2(MaxLayers),
    localparam int WAW = $clog2(WeightDepth),
    localparam int BAW = $clog2(BiasDepth),
    localparam int PAW = $clog2(PotDepth),
    localparam int AAW = $clog2(AccDepth),
    localparam int IAW = $clog2(InDepth),
    localparam int OW = $clog2(MaxOutputs)
) (
    input  wire               clk_i,
    input  wire               rst_i,
    // model load (while idle)
    input  wire               desc_we_i,
    input  wire [LW+5:0]      desc_addr_i,  // layer * 64 + word
    input  wire [31:0]        desc_data_i,
    input  wire               w_we_i,
    input  wire [WAW-1:0]     w_addr_i,
    input  wire [15:0]        w_data_i,
    input  wire               b_we_i,
    input  wire [BAW-1:0]     b_addr_i,
    input  wire [31:0]        b_data_i,
    input  wire               in_we_i,
    input  wire [IAW-1:0]     in_addr_i,
    input  wire [15:0]        in_data_i,
    input  wire [LW:0]        n_layers_i,
    input  wire [15:0]        timesteps_i,
    input  wire               int8_i,       // state and activation range: int8, else int16
    // one inference
    input  wire               start_i,
    output reg                busy_o,
    output reg                done_o,       // one clock when the outputs are ready
    output reg  [63:0]        cycles_o,
    input  wire [LW-1:0]      spk_sel_i,
    output wire [31:0]        spk_count_o,
    input  wire [OW-1:0]      out_sel_i,
    output wire [15:0]        out_count_o
);
  localparam int NW = 35;  // descriptor words used (docs/fpga-protocol.md)

  typedef enum logic [3:0] {
    SIdle, SDesc, SReset, SScanRd, SScanWr, SEvFetch, SEvDec, SEvSetup, SKpos, SSynRd, SSynWr,
    SUpdRd, SUpdWr, SNext
  } state_e;
  state_e st_q;
  reg phase_q;  // SDesc then: 0 the reset pass, 1 the timestep's layer

  // ---------------------------------------------------------------- the current layer
  reg linear_q, last_q;
  reg [9:0] in_c_q, out_c_q;
  reg [7:0] in_h_q, in_w_q, out_h_q, out_w_q;
  reg [3:0] k_h_q, k_w_q, pad_h_q, pad_w_q;
  reg [2:0] pool_q;
  reg [WAW-1:0] wbase_q;
  reg [BAW-1:0] bbase_q;
  reg [PAW-1:0] pbase_q;
  reg [7:0] req_shift_q, in_shift_q;
  reg [15:0] act_min_q, act_max_q, offset_q, thr_q, v_reset_q, v_init_q;
  reg [1:0] decay_mode_q, reset_q;
  reg [4:0] decay_shift_q;
  reg [15:0] decay_mult_q, in_mult_q;
  reg fire_ge_q, pre_reset_q, post_reset_q;
  reg [15:0] in_hw_q, out_hw_q;
  reg [15:0] w_stride_q;
  reg [15:0] n_neurons_q;

  // ---------------------------------------------------------------- memories
  /* verilator lint_off UNUSEDSIGNAL */
  wire [31:0] desc_rdata;  // descriptor fields are narrower than their words
  /* verilator lint_on UNUSEDSIGNAL */
  reg [5:0] dword_q;
  reg [LW-1:0] layer_q;
  snn_ram #(.Width(32), .Depth(MaxLayers * 64)) desc_ram (
      .clk_i(clk_i), .we_i(desc_we_i), .waddr_i(desc_addr_i), .wdata_i(desc_data_i),
      .raddr_i({layer_q, dword_q}), .rdata_o(desc_rdata));

  reg [WAW-1:0] w_ptr_q;
  wire [15:0] w_rdata;
  snn_spram #(.Width(16), .Depth(WeightDepth)) w_ram (
      .clk_i(clk_i), .we_i(w_we_i), .addr_i(busy_o ? w_ptr_q : w_addr_i), .wdata_i(w_data_i),
      .rdata_o(w_rdata));

  reg [BAW-1:0] b_raddr;
  wire [31:0] b_rdata;
  snn_ram #(.Width(32), .Depth(BiasDepth)) b_ram (
      .clk_i(clk_i), .we_i(b_we_i), .waddr_i(b_addr_i), .wdata_i(b_data_i),
      .raddr_i(b_raddr), .rdata_o(b_rdata));

  reg [AAW-1:0] acc_addr;
  reg acc_we;
  reg [31:0] acc_wdata;
  wire [31:0] acc_rdata;
  snn_spram #(.Width(32), .Depth(AccDepth)) acc_ram (
      .clk_i(clk_i), .we_i(acc_we), .addr_i(acc_addr), .wdata_i(acc_wdata),
      .rdata_o(acc_rdata));

  reg [PAW-1:0] pot_addr;
  reg pot_we;
  reg [15:0] pot_wdata;
  wire [15:0] pot_rdata;
  snn_spram #(.Width(16), .Depth(PotDepth)) pot_ram (
      .clk_i(clk_i), .we_i(pot_we), .addr_i(pot_addr), .wdata_i(pot_wdata),
      .rdata_o(pot_rdata));

  reg [IAW-1:0] scan_q;
  wire [15:0] in_rdata;
  snn_ram #(.Width(16), .Depth(InDepth)) in_ram (
      .clk_i(clk_i), .we_i(in_we_i), .waddr_i(in_addr_i), .wdata_i(in_data_i),
      .raddr_i(scan_q), .rdata_o(in_rdata));

  // The sample's input events: (c, y, x, value), listed once per inference.
  reg list_we;
  reg [IAW:0] list_n_q, list_rd_q;
  wire [41:0] list_rdata;
  reg [9:0] sc_c_q;
  reg [7:0] sc_y_q, sc_x_q;
  snn_ram #(.Width(42), .Depth(InDepth)) list_ram (
      .clk_i(clk_i), .we_i(list_we), .waddr_i(list_n_q[IAW-1:0]),
      .wdata_i({sc_c_q, sc_y_q, sc_x_q, in_rdata}), .raddr_i(list_rd_q[IAW-1:0]),
      .rdata_o(list_rdata));

  // Spike events between layers: layer l writes FIFO l % 2, layer l+1 reads it.
  reg [1:0] f_push, f_pop;
  reg [25:0] f_wdata;
  wire [25:0] f_rdata[2];
  wire [1:0] f_valid;
  wire [$clog2(EvDepth):0] f_count[2];
  for (genvar i = 0; i < 2; i++) begin : g_fifo
    // Never full: the host sizes EvDepth to the largest layer's (pooled) neurons.
    /* verilator lint_off PINCONNECTEMPTY */
    snn_fifo #(.Width(26), .Depth(EvDepth)) fifo (
        .clk_i(clk_i), .rst_i(rst_i), .push_i(f_push[i]), .data_i(f_wdata), .pop_i(f_pop[i]),
        .data_o(f_rdata[i]), .valid_o(f_valid[i]), .full_o(), .count_o(f_count[i]));
    /* verilator lint_on PINCONNECTEMPTY */
  end
  wire src = ~layer_q[0];  // the FIFO layer_q reads (layer_q >= 1)

  // ---------------------------------------------------------------- counters
  reg [31:0] spk_q[MaxLayers];
  reg [15:0] out_q[MaxOutputs];
  assign spk_count_o = spk_q[spk_sel_i];
  assign out_count_o = out_q[out_sel_i];
  reg [15:0] t_q;

  // ---------------------------------------------------------------- event scatter
  reg [15:0] ev_c_q;  // the input channel, or the flattened index of a linear layer
  reg [7:0] ev_y_q, ev_x_q;
  reg signed [15:0] ev_val_q;
  reg [3:0] ky_q, kx_q;
  reg [9:0] co_q;
  reg [AAW-1:0] acc_ptr_q;
  wire signed [10:0] oy = 11'(ev_y_q) + 11'(pad_h_q) - 11'(ky_q);
  wire signed [10:0] ox = 11'(ev_x_q) + 11'(pad_w_q) - 11'(kx_q);
  wire in_range = oy >= 0 && ox >= 0 && oy < 11'(out_h_q) && ox < 11'(out_w_q);
  wire last_k = ky_q == k_h_q - 1'b1 && kx_q == k_w_q - 1'b1;
  wire signed [31:0] product = $signed(w_rdata) * ev_val_q;
  wire [25:0] flat_chan = ev_c_q[9:0] * in_hw_q;  // a linear layer's flattened input index
  wire [15:0] flat_row = ev_y_q * in_w_q;
  wire [31:0] w_row = ev_c_q * w_stride_q;  // the event's first weight, from wbase
  wire [15:0] acc_row = oy[7:0] * out_w_q;  // in range: 0 <= oy < out_h

  // ---------------------------------------------------------------- neuron update
  reg [9:0] uc_q;
  reg [7:0] py_q, px_q;
  reg [3:0] dy_q, dx_q;
  reg any_q;  // a spike in the current pooling window
  reg [AAW-1:0] n_q;
  wire [7:0] ph = out_h_q >> pool_q, pw = out_w_q >> pool_q;
  wire [3:0] win = 4'd1 << pool_q;
  wire [7:0] uy = (py_q << pool_q) + 8'(dy_q), ux = (px_q << pool_q) + 8'(dx_q);
  // Multipliers sized to their operands (10 x 16 and 8 x 8 bits), not 32 x 32.
  wire [25:0] n_chan = uc_q * out_hw_q;
  wire [15:0] n_row = uy * out_w_q;
  wire [AAW-1:0] n_flat = AAW'(n_chan + 26'(n_row) + 26'(ux));
  wire signed [15:0] v_new;
  wire spike;
  wire signed [31:0] lo = int8_i ? -32'sd128 : -32'sd32768;
  wire signed [31:0] hi = int8_i ? 32'sd127 : 32'sd32767;

  snn_lif_unit lif (
      .acc_i(acc_rdata + b_rdata), .req_shift_i(req_shift_q),
      .act_min_i(32'($signed(act_min_q))), .act_max_i(32'($signed(act_max_q))),
      .v_i(pot_rdata), .decay_mode_i(decay_mode_q), .decay_shift_i(decay_shift_q),
      .decay_mult_i(decay_mult_q), .in_mult_i(in_mult_q), .in_shift_i(in_shift_q),
      .offset_i(32'($signed(offset_q))), .threshold_i(32'($signed(thr_q))),
      .v_reset_i(32'($signed(v_reset_q))), .reset_i(reset_q), .fire_ge_i(fire_ge_q),
      .pre_reset_i(pre_reset_q), .post_reset_i(post_reset_q), .lo_i(lo), .hi_i(hi),
      .v_o(v_new), .spike_o(spike));

  wire win_end = dy_q == win - 1'b1 && dx_q == win - 1'b1;
  wire upd_end = win_end && px_q == pw - 1'b1 && py_q == ph - 1'b1 && uc_q == out_c_q - 1'b1;

  // Memory ports by state (the FSM below moves the pointers).
  always @* begin
    acc_addr = acc_ptr_q;
    acc_we = 1'b0;
    acc_wdata = acc_rdata + product;
    pot_addr = pbase_q + PAW'(n_q);
    pot_we = 1'b0;
    pot_wdata = v_new;
    b_raddr = bbase_q + BAW'(uc_q);
    list_we = 1'b0;
    f_push = 2'b00;
    f_pop = 2'b00;
    f_wdata = {uc_q, py_q, px_q};
    case (st_q)
      SReset: begin
        acc_addr = n_q;
        acc_we = 1'b1;
        acc_wdata = 32'd0;
        pot_we = 1'b1;
        pot_wdata = v_init_q;
      end
      SScanWr: list_we = in_rdata != 16'd0;
      SEvFetch: if (layer_q != 0) f_pop[src] = 1'b1;
      SSynWr: acc_we = 1'b1;
      SUpdRd: begin
        acc_addr = n_flat;
        pot_addr = pbase_q + PAW'(n_flat);
      end
      SUpdWr: begin
        acc_addr = n_q;
        acc_we = 1'b1;
        acc_wdata = 32'd0;
        pot_we = 1'b1;
        if (win_end && !last_q && (any_q || spike)) f_push[layer_q[0]] = 1'b1;
      end
      default: ;
    endcase
  end

  always @(posedge clk_i) begin
    done_o <= 1'b0;
    if (rst_i) begin
      st_q <= SIdle;
      busy_o <= 1'b0;
      cycles_o <= '0;
      layer_q <= '0;
      dword_q <= '0;
    end else begin
      // 40 bits (25 hours at 12 MHz) are counted; RESULT's u64 gets them zero-extended.
      if (busy_o) cycles_o[39:0] <= cycles_o[39:0] + 1'b1;
      case (st_q)
        SIdle: if (start_i) begin
          busy_o <= 1'b1;
          cycles_o <= 64'd1;  // the upper 24 bits stay 0
          for (int i = 0; i < MaxLayers; i++) spk_q[i] <= '0;
          for (int i = 0; i < MaxOutputs; i++) out_q[i] <= '0;
          layer_q <= LW'(n_layers_i - 1'b1);  // last to first: layer 0's shape is
          dword_q <= '0;                      // loaded when the input is scanned
          phase_q <= 1'b0;
          t_q <= '0;
          st_q <= SDesc;
        end
        // Read the layer's descriptor into registers, one word a clock.
        SDesc: begin
          dword_q <= dword_q + 1'b1;
          if (dword_q != 0) begin
            case (dword_q - 1'b1)
              6'd0: {last_q, linear_q} <= desc_rdata[1:0];
              6'd1: in_c_q <= desc_rdata[9:0];
              6'd2: in_h_q <= desc_rdata[7:0];
              6'd3: in_w_q <= desc_rdata[7:0];
              6'd4: out_c_q <= desc_rdata[9:0];
              6'd5: out_h_q <= desc_rdata[7:0];
              6'd6: out_w_q <= desc_rdata[7:0];
              6'd7: k_h_q <= desc_rdata[3:0];
              6'd8: k_w_q <= desc_rdata[3:0];
              6'd9: pad_h_q <= desc_rdata[3:0];
              6'd10: pad_w_q <= desc_rdata[3:0];
              6'd11: pool_q <= desc_rdata[2:0];
              6'd12: wbase_q <= desc_rdata[WAW-1:0];
              6'd13: bbase_q <= desc_rdata[BAW-1:0];
              6'd14: pbase_q <= desc_rdata[PAW-1:0];
              6'd15: req_shift_q <= desc_rdata[7:0];
              6'd16: act_min_q <= desc_rdata[15:0];
              6'd17: act_max_q <= desc_rdata[15:0];
              6'd18: decay_mode_q <= desc_rdata[1:0];
              6'd19: decay_shift_q <= desc_rdata[4:0];
              6'd20: decay_mult_q <= desc_rdata[15:0];
              6'd21: in_mult_q <= desc_rdata[15:0];
              6'd22: in_shift_q <= desc_rdata[7:0];
              6'd23: offset_q <= desc_rdata[15:0];
              6'd24: thr_q <= desc_rdata[15:0];
              6'd25: v_reset_q <= desc_rdata[15:0];
              6'd26: v_init_q <= desc_rdata[15:0];
              6'd27: reset_q <= desc_rdata[1:0];
              6'd28: fire_ge_q <= desc_rdata[0];
              6'd29: pre_reset_q <= desc_rdata[0];
              6'd30: post_reset_q <= desc_rdata[0];
              6'd31: in_hw_q <= desc_rdata[15:0];
              6'd32: out_hw_q <= desc_rdata[15:0];
              6'd33: w_stride_q <= desc_rdata[15:0];
              6'd34: n_neurons_q <= desc_rdata[15:0];
              default: ;
            endcase
          end
          if (dword_q == 6'(NW)) begin
            dword_q <= '0;
            n_q <= '0;
            if (!phase_q) begin
              st_q <= SReset;
            end else begin
              list_rd_q <= '0;
              st_q <= SEvFetch;
            end
          end
        end
        // A sample starts from rest: potentials to v_init, accumulators to 0.
        SReset: begin
          n_q <= n_q + 1'b1;
          if (32'(n_q) == 32'(n_neurons_q) - 1) begin
            if (layer_q == 0) begin
              phase_q <= 1'b1;
              scan_q <= '0;
              list_n_q <= '0;
              {sc_c_q, sc_y_q, sc_x_q} <= '0;
              st_q <= SScanRd;  // then layer 0's descriptor again
            end else begin
              layer_q <= layer_q - 1'b1;
              st_q <= SDesc;
            end
          end
        end
        // List the non-zero input values as events (c, y, x, value), in layer 0's input shape.
        SScanRd: st_q <= SScanWr;
        SScanWr: begin
          if (in_rdata != 0) list_n_q <= list_n_q + 1'b1;
          scan_q <= scan_q + 1'b1;
          if (sc_x_q == in_w_q - 1'b1) begin
            sc_x_q <= '0;
            if (sc_y_q == in_h_q - 1'b1) begin
              sc_y_q <= '0;
              sc_c_q <= sc_c_q + 1'b1;
            end else begin
              sc_y_q <= sc_y_q + 1'b1;
            end
          end else begin
            sc_x_q <= sc_x_q + 1'b1;
          end
          st_q <= (sc_x_q == in_w_q - 1'b1 && sc_y_q == in_h_q - 1'b1
                   && sc_c_q == in_c_q - 1'b1) ? SDesc : SScanRd;
        end
        // ------------------------------------------------ events of one layer
        SEvFetch: begin
          if (layer_q == 0) begin
            if (list_rd_q == list_n_q) begin
              st_q <= SUpdRd;
            end else begin
              list_rd_q <= list_rd_q + 1'b1;  // list_rdata shows this entry next clock
              st_q <= SEvDec;
            end
          end else if (f_count[src] == 0) begin
            st_q <= SUpdRd;
          end else if (f_valid[src]) begin
            ev_c_q <= 16'(f_rdata[src][25:16]);  // latched now: the pop moves the head
            ev_y_q <= f_rdata[src][15:8];
            ev_x_q <= f_rdata[src][7:0];
            ev_val_q <= 16'sd1;
            st_q <= SEvSetup;
          end
          {uc_q, py_q, px_q, dy_q, dx_q, any_q} <= '0;
        end
        SEvDec: begin  // layer 0: the list entry
          ev_c_q <= 16'(list_rdata[41:32]);
          ev_y_q <= list_rdata[31:24];
          ev_x_q <= list_rdata[23:16];
          ev_val_q <= list_rdata[15:0];
          st_q <= SEvSetup;
        end
        SEvSetup: begin
          if (linear_q) begin
            ev_c_q <= 16'(flat_chan + 26'(flat_row) + 26'(ev_x_q));
            {ev_y_q, ev_x_q} <= '0;
          end
          ky_q <= '0;
          kx_q <= '0;
          st_q <= SKpos;
        end
        SKpos: begin
          if (kx_q == 0 && ky_q == 0) w_ptr_q <= wbase_q + WAW'(w_row);
          if (in_range) begin
            acc_ptr_q <= AAW'(acc_row + 16'(ox[7:0]));
            co_q <= '0;
            st_q <= SSynRd;
          end else begin
            if (!(kx_q == 0 && ky_q == 0)) w_ptr_q <= w_ptr_q + WAW'(out_c_q);
            else w_ptr_q <= wbase_q + WAW'(w_row + 32'(out_c_q));
            if (last_k) st_q <= SEvFetch;
            else if (kx_q == k_w_q - 1'b1) begin
              kx_q <= '0;
              ky_q <= ky_q + 1'b1;
            end else kx_q <= kx_q + 1'b1;
          end
        end
        SSynRd: st_q <= SSynWr;
        SSynWr: begin
          w_ptr_q <= w_ptr_q + 1'b1;
          co_q <= co_q + 1'b1;
          acc_ptr_q <= acc_ptr_q + AAW'(out_hw_q);
          if (co_q == out_c_q - 1'b1) begin
            if (last_k) st_q <= SEvFetch;
            else begin
              st_q <= SKpos;
              if (kx_q == k_w_q - 1'b1) begin
                kx_q <= '0;
                ky_q <= ky_q + 1'b1;
              end else kx_q <= kx_q + 1'b1;
            end
          end else st_q <= SSynRd;
        end
        // ------------------------------------------------ the timestep barrier: neurons
        SUpdRd: begin
          n_q <= n_flat;
          st_q <= SUpdWr;
        end
        SUpdWr: begin
          if (spike) begin
            spk_q[layer_q] <= spk_q[layer_q] + 1'b1;
            if (last_q) out_q[OW'(n_q)] <= out_q[OW'(n_q)] + 1'b1;
          end
          any_q <= win_end ? 1'b0 : any_q | spike;
          if (dx_q == win - 1'b1) begin
            dx_q <= '0;
            if (dy_q == win - 1'b1) begin
              dy_q <= '0;
              if (px_q == pw - 1'b1) begin
                px_q <= '0;
                if (py_q == ph - 1'b1) begin
                  py_q <= '0;
                  uc_q <= uc_q + 1'b1;
                end else py_q <= py_q + 1'b1;
              end else px_q <= px_q + 1'b1;
            end else dy_q <= dy_q + 1'b1;
          end else dx_q <= dx_q + 1'b1;
          st_q <= upd_end ? SNext : SUpdRd;
        end
        SNext: begin
          if (32'(layer_q) == 32'(n_layers_i) - 1) begin
            layer_q <= '0;
            if (t_q == timesteps_i - 1'b1) begin
              busy_o <= 1'b0;
              done_o <= 1'b1;
              st_q <= SIdle;
            end else begin
              t_q <= t_q + 1'b1;
              st_q <= SDesc;
            end
          end else begin
            layer_q <= layer_q + 1'b1;
            st_q <= SDesc;
          end
        end
        default: st_q <= SIdle;
      endcase
    end
  end
endmodule
