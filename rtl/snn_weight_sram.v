// =============================================================================
// snn_weight_sram.v -- behavioural single-port synchronous SRAM, read latency 1
// =============================================================================
// One word = LANES weights of one axon (chip-spec §2.1). An address presented
// with `en` high in cycle k gives its data on `rdata` in cycle k+1
// (SRAM_READ_LATENCY_CYCLES = 1); `rdata` holds its value while `en` is low.
// A write (`en` and `we` high) does not change `rdata`. Contents are not
// reset: the load interface writes every word a program uses.
`default_nettype none

module snn_weight_sram #(
    // Number of words; >= 1.
    parameter integer DEPTH = 16384,
    // Word width in bits; >= 1.
    parameter integer WIDTH = 128,
    // Address width in bits; >= 1 and 2^ADDR_W >= DEPTH.
    parameter integer ADDR_W = 14
) (
    input  wire              clk,               // clock, rising edge
    input  wire              en,                // access enable (read or write)
    input  wire              we,                // write enable, with en
    input  wire [ADDR_W-1:0] addr,              // word address, < DEPTH
    input  wire [WIDTH-1:0]  wdata,             // write data
    output reg  [WIDTH-1:0]  rdata              // read data, one cycle after the address
);

    reg [WIDTH-1:0] mem [0:DEPTH-1];

    always @(posedge clk) begin
        if (en) begin
            if (we)
                mem[addr] <= wdata;
            else
                rdata <= mem[addr];
        end
    end

endmodule

`default_nettype wire
