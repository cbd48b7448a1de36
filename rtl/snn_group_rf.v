// =============================================================================
// snn_group_rf.v -- register file of lane groups (membranes or biases)
// =============================================================================
// DEPTH words of WIDTH bits (one word = the LANES values of one lane group),
// one synchronous write port, two combinational read ports and a synchronous
// clear of every word. Clear wins over a write in the same cycle.
`default_nettype none

module snn_group_rf #(
    // Number of words (lane groups, NEURONS / LANES); >= 1.
    parameter integer DEPTH = 16,
    // Word width in bits (LANES * V_BITS); >= 1.
    parameter integer WIDTH = 256,
    // Address width in bits; >= 1 and 2^ADDR_W >= DEPTH.
    parameter integer ADDR_W = 4
) (
    input  wire              clk,               // clock, rising edge
    input  wire              clr,               // set every word to 0
    // write port -----------------------------------------------------------
    input  wire              we,                // write enable
    input  wire [ADDR_W-1:0] waddr,             // write address, < DEPTH
    input  wire [WIDTH-1:0]  wdata,             // write data
    // read ports ------------------------------------------------------------
    input  wire [ADDR_W-1:0] raddr_a,           // read address A, < DEPTH
    output wire [WIDTH-1:0]  rdata_a,           // word at raddr_a (combinational)
    input  wire [ADDR_W-1:0] raddr_b,           // read address B, < DEPTH
    output wire [WIDTH-1:0]  rdata_b            // word at raddr_b (combinational)
);

    // A sized zero, not {WIDTH{1'b0}}: wide words exceed Verilator's replication limit.
    localparam [WIDTH-1:0] ZERO_WORD = 0;
    reg [WIDTH-1:0] mem [0:DEPTH-1];
    integer k;

    always @(posedge clk) begin
        if (clr) begin
            for (k = 0; k < DEPTH; k = k + 1)
                mem[k] <= ZERO_WORD;
        end else if (we) begin
            mem[waddr] <= wdata;
        end
    end

    assign rdata_a = mem[raddr_a];
    assign rdata_b = mem[raddr_b];

endmodule

`default_nettype wire
