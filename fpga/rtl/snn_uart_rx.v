// UART receiver, 8N1. ClksPerBit clocks per bit (12 MHz / 115200 ~ 104 on the
// iCEBreaker; a few clocks in simulation so runs are fast).
module snn_uart_rx #(
    parameter int ClksPerBit = 104
) (
    input  wire       clk_i,
    input  wire       rst_i,
    input  wire       rx_i,
    output reg        valid_o,
    output reg  [7:0] data_o
);
  localparam int CW = $clog2(ClksPerBit * 2 + 1);
  // Two flops: rx comes from another clock domain (the FTDI chip).
  reg rx_meta_q, rx_q;
  reg [CW-1:0] cnt_q;
  reg [3:0] bit_q;
  reg busy_q;
  reg [7:0] shift_q;

  always @(posedge clk_i) begin
    rx_meta_q <= rx_i;
    rx_q <= rx_meta_q;
    valid_o <= 1'b0;
    if (rst_i) begin
      busy_q <= 1'b0;
      cnt_q <= '0;
      bit_q <= '0;
      rx_meta_q <= 1'b1;
      rx_q <= 1'b1;
    end else if (!busy_q) begin
      if (!rx_q) begin
        busy_q <= 1'b1;
        // Sample in the middle of each bit: half a bit to the start bit's middle.
        cnt_q <= CW'(ClksPerBit / 2);
        bit_q <= '0;
      end
    end else if (cnt_q != 0) begin
      cnt_q <= cnt_q - 1'b1;
    end else begin
      cnt_q <= CW'(ClksPerBit - 1);
      if (bit_q == 0) begin
        if (rx_q) busy_q <= 1'b0;  // a glitch, not a start bit
        bit_q <= 4'd1;
      end else if (bit_q <= 4'd8) begin
        shift_q <= {rx_q, shift_q[7:1]};
        bit_q <= bit_q + 1'b1;
      end else begin
        busy_q <= 1'b0;
        if (rx_q) begin  // a stop bit; a framing error drops the byte
          valid_o <= 1'b1;
          data_o <= shift_q;
        end
      end
    end
  end
endmodule
