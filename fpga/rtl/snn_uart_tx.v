// UART transmitter, 8N1, ClksPerBit clocks per bit; takes a byte when ready_o.
module snn_uart_tx #(
    parameter int ClksPerBit = 104
) (
    input  wire       clk_i,
    input  wire       rst_i,
    input  wire       valid_i,
    input  wire [7:0] data_i,
    output wire       ready_o,
    output reg        tx_o
);
  localparam int CW = $clog2(ClksPerBit + 1);
  reg [CW-1:0] cnt_q;
  reg [3:0] bit_q;
  reg [9:0] shift_q;
  reg busy_q;

  assign ready_o = !busy_q;

  always @(posedge clk_i) begin
    if (rst_i) begin
      busy_q <= 1'b0;
      tx_o <= 1'b1;
      cnt_q <= '0;
      bit_q <= '0;
      shift_q <= '1;
    end else if (!busy_q) begin
      tx_o <= 1'b1;
      if (valid_i) begin
        busy_q <= 1'b1;
        shift_q <= {1'b1, data_i, 1'b0};
        bit_q <= '0;
        cnt_q <= '0;
      end
    end else if (cnt_q != 0) begin
      cnt_q <= cnt_q - 1'b1;
    end else if (bit_q == 4'd10) begin
      busy_q <= 1'b0;
    end else begin
      tx_o <= shift_q[0];
      shift_q <= {1'b1, shift_q[9:1]};
      bit_q <= bit_q + 1'b1;
      cnt_q <= CW'(ClksPerBit - 1);
    end
  end
endmodule
