// A second real design for the synthesis flow's tests: a 16 x 16 multiply
// (a DSP block with yosys's -dsp) accumulating words read back from a
// single-port RAM (one 256 Kbit SPRAM on the iCE40 UP5K; a plain array
// under Verilator), with the iCEBreaker's clock and UART pins.
module mac_top #(
  parameter integer Depth = 16384
) (
  input  wire clk,
  input  wire uart_rx,
  output wire uart_tx
);
  localparam integer AddrBits = $clog2(Depth);

  reg [15:0] shift_q = '0;
  reg [AddrBits-1:0] addr_q = '0;
  reg signed [31:0] prod_q = '0;
  reg signed [31:0] acc_q = '0;
  wire [15:0] rdata;

`ifdef SYNTHESIS
  SB_SPRAM256KA spram (
      .ADDRESS(14'(addr_q)), .DATAIN(shift_q), .MASKWREN(4'b1111), .WREN(addr_q[0]),
      .CHIPSELECT(1'b1), .CLOCK(clk), .STANDBY(1'b0), .SLEEP(1'b0), .POWEROFF(1'b1),
      .DATAOUT(rdata));
`else
  reg [15:0] mem_q [0:Depth-1];
  reg [15:0] rdata_q = '0;
  assign rdata = rdata_q;
  always @(posedge clk) begin
    if (addr_q[0]) mem_q[addr_q] <= shift_q;
    else rdata_q <= mem_q[addr_q];
  end
`endif

  always @(posedge clk) begin
    shift_q <= {shift_q[14:0], uart_rx};
    addr_q <= addr_q + 1'b1;
    prod_q <= $signed(shift_q) * $signed(rdata);
    acc_q <= acc_q + prod_q;
  end

  assign uart_tx = ^acc_q;
endmodule
