// CRC-32 (IEEE 802.3, reflected, as zlib.crc32) of one byte: the running
// value before the final inversion goes in and out.
module snn_crc32 (
    input  wire [31:0] crc_i,
    input  wire [7:0]  data_i,
    output reg  [31:0] crc_o
);
  always @* begin
    crc_o = crc_i ^ {24'd0, data_i};
    for (int i = 0; i < 8; i++) begin
      crc_o = crc_o[0] ? (crc_o >> 1) ^ 32'hEDB88320 : crc_o >> 1;
    end
  end
endmodule
