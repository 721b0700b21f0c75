// bench's open event-driven SNN core: a UART speaking bench's protocol and
// the model load (docs/fpga-protocol.md), and the engine. Sizes are
// parameters; harness/fpga/core.py picks them for a model and checks it fits.
// The iCEBreaker has a 12 MHz clock and no reset pin: reset is internal.
module bench_snn_top #(
    parameter int ClockHz = 12000000,
    parameter int ClksPerBit = 104,  // 115200 baud at 12 MHz
    parameter int MaxPayload = 1024,
    parameter int MaxLayers = 8,
    parameter int WeightDepth = 16384,
    parameter int BiasDepth = 512,
    parameter int PotDepth = 16384,
    parameter int AccDepth = 16384,
    parameter int InDepth = 256,
    parameter int EvDepth = 512,
    parameter int MaxOutputs = 16,
    parameter int RxDepth = 2048,
    parameter int TxDepth = 512
) (
    input  wire clk,
    input  wire uart_rx,
    output wire uart_tx
);
  localparam int LW = $clog2(MaxLayers);
  localparam int WAW = $clog2(WeightDepth);
  localparam int BAW = $clog2(BiasDepth);
  localparam int IAW = $clog2(InDepth);
  localparam int OW = $clog2(MaxOutputs);

  // Power-on reset: 16 clocks (flops start at 0 on the iCE40 and in Verilator).
  reg [4:0] por_q = 5'd0;
  wire rst = !por_q[4];
  always @(posedge clk) if (rst) por_q <= por_q + 1'b1;

  wire rx_valid, rx_pop, rx_byte_valid, tx_full, tx_push, tx_valid, tx_ready;
  wire [7:0] rx_byte, rx_data, tx_data, tx_byte;
  snn_uart_rx #(.ClksPerBit(ClksPerBit)) urx (
      .clk_i(clk), .rst_i(rst), .rx_i(uart_rx), .valid_o(rx_byte_valid), .data_o(rx_byte));
  // Bytes arriving while the core computes or replies wait here.
  /* verilator lint_off PINCONNECTEMPTY */
  snn_fifo #(.Width(8), .Depth(RxDepth)) rx_fifo (
      .clk_i(clk), .rst_i(rst), .push_i(rx_byte_valid), .data_i(rx_byte), .pop_i(rx_pop),
      .data_o(rx_data), .valid_o(rx_valid), .full_o(), .count_o());
  snn_fifo #(.Width(8), .Depth(TxDepth)) tx_fifo (
      .clk_i(clk), .rst_i(rst), .push_i(tx_push), .data_i(tx_data), .pop_i(tx_ready),
      .data_o(tx_byte), .valid_o(tx_valid), .full_o(tx_full), .count_o());
  /* verilator lint_on PINCONNECTEMPTY */
  snn_uart_tx #(.ClksPerBit(ClksPerBit)) utx (
      .clk_i(clk), .rst_i(rst), .valid_i(tx_valid), .data_i(tx_byte), .ready_o(tx_ready),
      .tx_o(uart_tx));

  wire host_idle, desc_we, w_we, b_we, in_we, start, busy, done, int8;
  wire [LW+5:0] desc_addr;
  wire [WAW-1:0] w_addr;
  wire [BAW-1:0] b_addr;
  wire [IAW-1:0] in_addr;
  wire [31:0] word, spk_count;
  wire [LW:0] n_layers;
  wire [15:0] timesteps, out_count;
  wire [63:0] cycles;
  wire [LW-1:0] spk_sel;
  wire [OW-1:0] out_sel;

  snn_host_if #(
      .ClockHz(ClockHz), .MaxPayload(MaxPayload), .MaxLayers(MaxLayers),
      .WeightDepth(WeightDepth), .BiasDepth(BiasDepth), .InDepth(InDepth),
      .MaxOutputs(MaxOutputs)
  ) host (
      .clk_i(clk), .rst_i(rst), .rx_valid_i(rx_valid), .rx_data_i(rx_data), .rx_pop_o(rx_pop), .idle_o(host_idle),
      .tx_push_o(tx_push), .tx_data_o(tx_data), .tx_full_i(tx_full),
      .desc_we_o(desc_we), .desc_addr_o(desc_addr), .w_we_o(w_we), .w_addr_o(w_addr),
      .b_we_o(b_we), .b_addr_o(b_addr), .in_we_o(in_we), .in_addr_o(in_addr), .word_o(word),
      .n_layers_o(n_layers), .timesteps_o(timesteps), .int8_o(int8), .start_o(start),
      .done_i(done), .cycles_i(cycles), .spk_sel_o(spk_sel), .spk_count_i(spk_count),
      .out_sel_o(out_sel), .out_count_i(out_count));

  /* verilator lint_off PINCONNECTEMPTY */
  snn_engine #(
      .MaxLayers(MaxLayers), .WeightDepth(WeightDepth), .BiasDepth(BiasDepth),
      .PotDepth(PotDepth), .AccDepth(AccDepth), .InDepth(InDepth), .EvDepth(EvDepth),
      .MaxOutputs(MaxOutputs)
  ) engine (
      .clk_i(clk), .rst_i(rst), .desc_we_i(desc_we), .desc_addr_i(desc_addr),
      .desc_data_i(word), .w_we_i(w_we), .w_addr_i(w_addr), .w_data_i(word[15:0]),
      .b_we_i(b_we), .b_addr_i(b_addr), .b_data_i(word), .in_we_i(in_we),
      .in_addr_i(in_addr), .in_data_i(word[15:0]), .n_layers_i(n_layers),
      .timesteps_i(timesteps), .int8_i(int8), .start_i(start), .busy_o(busy), .done_o(done),
      .cycles_o(cycles), .spk_sel_i(spk_sel), .spk_count_o(spk_count), .out_sel_i(out_sel),
      .out_count_o(out_count));
  /* verilator lint_on PINCONNECTEMPTY */
  // Nothing to do until the next byte: the simulation harness (fpga/sim) sleeps then.
  wire core_idle /* verilator public_flat_rd */ = host_idle && !busy && !tx_valid && tx_ready;
endmodule
