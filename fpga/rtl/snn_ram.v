// Simple dual-port RAM (one write port, one registered read port): the
// shape yosys synth_ice40 maps to EBR block RAM.
module snn_ram #(
    parameter int Width = 16,
    parameter int Depth = 256,
    localparam int AW = $clog2(Depth)
) (
    input  wire             clk_i,
    input  wire             we_i,
    input  wire [AW-1:0]    waddr_i,
    input  wire [Width-1:0] wdata_i,
    input  wire [AW-1:0]    raddr_i,
    output reg  [Width-1:0] rdata_o
);
  reg [Width-1:0] mem[Depth];

  always @(posedge clk_i) begin
    if (we_i) mem[waddr_i] <= wdata_i;
    rdata_o <= mem[raddr_i];
  end
endmodule
