// Test wrapper (not part of the design): the UART transmitter's line fed
// back into the receiver, both at ClksPerBit.
module uart_loop #(
    parameter int ClksPerBit = 8
) (
    input  wire       clk_i,
    input  wire       rst_i,
    input  wire       valid_i,
    input  wire [7:0] data_i,
    output wire       ready_o,
    output wire       tx_o,
    output wire       rx_valid_o,
    output wire [7:0] rx_data_o
);
  snn_uart_tx #(.ClksPerBit(ClksPerBit)) tx (
      .clk_i(clk_i), .rst_i(rst_i), .valid_i(valid_i), .data_i(data_i), .ready_o(ready_o),
      .tx_o(tx_o));
  snn_uart_rx #(.ClksPerBit(ClksPerBit)) rx (
      .clk_i(clk_i), .rst_i(rst_i), .rx_i(tx_o), .valid_o(rx_valid_o), .data_o(rx_data_o));
endmodule
