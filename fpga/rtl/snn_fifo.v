// Synchronous FIFO of Depth entries (a power of two) on block RAM. The head
// is shown registered: after a pop, the next entry is valid one clock later
// (valid_o), which is the block RAM's read latency.
module snn_fifo #(
    parameter int Width = 26,
    parameter int Depth = 512,
    localparam int AW = $clog2(Depth)
) (
    input  wire             clk_i,
    input  wire             rst_i,
    input  wire             push_i,
    input  wire [Width-1:0] data_i,
    input  wire             pop_i,
    output wire [Width-1:0] data_o,
    output wire             valid_o,
    output wire             full_o,
    output wire [AW:0]      count_o
);
  reg [AW:0] wr_q, rd_q;
  reg fresh_q;  // the RAM output holds the entry at rd_q
  wire [AW:0] count = wr_q - rd_q;
  wire do_pop = pop_i && valid_o;
  wire [AW:0] rd_next = rd_q + {{AW{1'b0}}, do_pop};

  assign full_o = count == (AW+1)'(Depth);
  assign count_o = count;
  assign valid_o = fresh_q && count != 0;

  snn_ram #(.Width(Width), .Depth(Depth)) ram (
      .clk_i(clk_i), .we_i(push_i && !full_o), .waddr_i(wr_q[AW-1:0]), .wdata_i(data_i),
      .raddr_i(rd_next[AW-1:0]), .rdata_o(data_o));

  always @(posedge clk_i) begin
    if (rst_i) begin
      wr_q <= '0;
      rd_q <= '0;
      fresh_q <= 1'b0;
    end else begin
      if (push_i && !full_o) wr_q <= wr_q + 1'b1;
      rd_q <= rd_next;
      // A read of the slot being written this clock returns the old word: wait one more.
      fresh_q <= !(push_i && !full_o && wr_q[AW-1:0] == rd_next[AW-1:0]);
    end
  end
endmodule
