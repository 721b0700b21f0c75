// Single-port RAM for the big arrays (weights, potentials, accumulators):
// on the iCE40 UP5K the 256 Kbit SPRAM blocks (16K x 16 each), elsewhere
// (Verilator) a plain array. A read returns data the next clock; a clock
// that writes returns nothing useful.
module snn_spram #(
    parameter int Width = 16,  // 16 or 32
    parameter int Depth = 16384,
    localparam int AW = $clog2(Depth)
) (
    input  wire             clk_i,
    input  wire             we_i,
    input  wire [AW-1:0]    addr_i,
    input  wire [Width-1:0] wdata_i,
    output wire [Width-1:0] rdata_o
);
`ifdef SYNTHESIS
  // One SB_SPRAM256KA per 16 bits of width; Depth must be 16384 or less.
  for (genvar i = 0; i < Width / 16; i++) begin : g_block
    SB_SPRAM256KA spram (
        .ADDRESS(14'(addr_i)), .DATAIN(wdata_i[16*i+:16]), .MASKWREN(4'b1111),
        .WREN(we_i), .CHIPSELECT(1'b1), .CLOCK(clk_i), .STANDBY(1'b0), .SLEEP(1'b0),
        .POWEROFF(1'b1), .DATAOUT(rdata_o[16*i+:16]));
  end
`else
  reg [Width-1:0] mem[Depth];
  reg [Width-1:0] q;
  assign rdata_o = q;
  always @(posedge clk_i) begin
    if (we_i) mem[addr_i] <= wdata_i;
    else q <= mem[addr_i];
  end
`endif
endmodule
