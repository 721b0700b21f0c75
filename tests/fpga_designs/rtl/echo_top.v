// A small real design for the synthesis flow's tests: the iCEBreaker's
// clock and FTDI UART pins (the ports of bench_snn_top), a delay line
// through a block RAM of parameterised depth, and a shift register; big
// enough to use LUTs, flip-flops, carries and EBR, and to overflow the EBR
// when Depth x Width is made too large.
module echo_top #(
  parameter integer Depth = 512,
  parameter integer Width = 8
) (
  input  wire clk,
  input  wire uart_rx,
  output wire uart_tx
);
  localparam integer AddrBits = $clog2(Depth);

  reg [Width-1:0] mem_q [0:Depth-1];
  reg [AddrBits-1:0] wr_q = '0;
  reg [AddrBits-1:0] rd_q = '0;
  reg [Width-1:0] shift_q = '0;
  reg [Width-1:0] data_q = '0;

  always @(posedge clk) begin
    shift_q <= {shift_q[Width-2:0], uart_rx};
    mem_q[wr_q] <= shift_q;
    wr_q <= wr_q + 1'b1;
    rd_q <= wr_q - AddrBits'(3);
    data_q <= mem_q[rd_q];
  end

  assign uart_tx = ^data_q;
endmodule
