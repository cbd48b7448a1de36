// =============================================================================
// snn_psum_buf.v -- partial-sum buffer of one core (chip-spec §1.3, §2.2 steps 1b and 5, §5.1)
// =============================================================================
// NEURONS words of V_BITS signed values, 0 at reset, in snn_core only when
// PARTIAL_SUMS = 1. Partial-sum packets write word `neuron` with the packet's
// value in the cycle they are delivered, up to PORTS packets per cycle (one
// port per sender, like the AER input of snn_spike_scan; validation gives a
// neuron at most one partial sum per timestep, so two ports never name the
// same word). The MERGE phase reads one lane group per cycle (`rd_group`,
// combinational) and, with `rd_clr`, clears that group's words at the same
// edge: by the end of a receiver's timestep every word of its neurons has
// been merged and cleared (chip-spec §2.2 step 5). A packet arriving in the
// clearing cycle is written after the clear, i.e. kept for the next timestep
// (as an AER event in the START cycle).
`default_nettype none

module snn_psum_buf #(
    // Words (neurons per core, N); 1..4096, a multiple of LANES.
    parameter integer NEURONS = 256,
    // Words per lane group (P); 1..NEURONS, divides NEURONS.
    parameter integer LANES = 16,
    // Signed value width in bits (the membrane width); 4..32.
    parameter integer V_BITS = 16,
    // Neuron index width in bits; >= 1 and 2^N_W >= NEURONS.
    parameter integer N_W = 8,
    // Lane-group index width in bits; >= 1 and 2^G_W >= NEURONS / LANES.
    parameter integer G_W = 4,
    // Write ports (partial-sum senders that may deliver in the same cycle); >= 1.
    parameter integer PORTS = 1
) (
    input  wire                    clk,         // clock, rising edge
    input  wire                    rst_n,       // synchronous reset, active low (every word 0)
    // partial-sum packets in ----------------------------------------------------------
    input  wire [PORTS-1:0]        wr_valid,    // bit p: a partial-sum packet arrives on port p
    input  wire [PORTS*N_W-1:0]    wr_neuron,   // port p's neuron index at [p*N_W +: N_W], < NEURONS
    input  wire [PORTS*V_BITS-1:0] wr_value,    // port p's value at [p*V_BITS +: V_BITS] (two's complement)
    // MERGE ---------------------------------------------------------------------------------
    input  wire [G_W-1:0]          rd_group,    // lane group to read (and clear)
    input  wire                    rd_clr,      // clear the words of rd_group at this edge
    output wire [LANES*V_BITS-1:0] rd_word      // word of neuron rd_group*LANES + l at [l*V_BITS +: V_BITS]
);

    localparam integer GW = LANES * V_BITS;                 // one lane group's words
    // Sized zeros, not replications: wide buffers exceed Verilator's replication limit.
    localparam [NEURONS*V_BITS-1:0] BUF_ZERO   = 0;
    localparam [GW-1:0]             GROUP_ZERO = 0;

    reg [NEURONS*V_BITS-1:0] words;    // neuron j at [j*V_BITS +: V_BITS]
    integer p;

    always @(posedge clk) begin
        if (!rst_n) begin
            words <= BUF_ZERO;
        end else begin
            if (rd_clr)
                words[rd_group*GW +: GW] <= GROUP_ZERO;
            for (p = 0; p < PORTS; p = p + 1)
                if (wr_valid[p])        // after the clear: kept for the next timestep
                    words[wr_neuron[p*N_W +: N_W]*V_BITS +: V_BITS] <= wr_value[p*V_BITS +: V_BITS];
        end
    end

    assign rd_word = words[rd_group*GW +: GW];

endmodule

`default_nettype wire
