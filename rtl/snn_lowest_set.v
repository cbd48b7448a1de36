// =============================================================================
// snn_lowest_set.v -- two-level priority encoder: index of the lowest set bit
// =============================================================================
// Used where the spec visits set bits in ascending order: the zero-skipping
// input-spike scan (chip-spec §2.2 step 2, snn_spike_scan) and the router's
// walk over spiking neurons (§1.1, §5.1, snn_router). The vector is cut into
// segments of SEG bits; the lowest non-empty segment is found first, then the
// lowest set bit inside it. Both levels are small encoders, cheaper in gates
// (and in simulation) than one WIDTH-wide encoder. Purely combinational.
`default_nettype none

module snn_lowest_set #(
    // Bits to search; 1..8192.
    parameter integer WIDTH = 1024,
    // Index width in bits; >= 1 and 2^IDX_W >= WIDTH.
    parameter integer IDX_W = 10
) (
    input  wire [WIDTH-1:0] bits,               // the vector to search
    output wire             any,                // some bit is set
    output wire [IDX_W-1:0] idx                 // lowest set bit (0 when none is set)
);

    localparam integer SEG  = (WIDTH < 32) ? WIDTH : 32;      // bits per segment
    localparam integer NSEG = (WIDTH + SEG - 1) / SEG;         // segments
    localparam integer S_W  = (NSEG > 1) ? $clog2(NSEG) : 1;   // segment index width
    localparam integer B_W  = (SEG > 1) ? $clog2(SEG) : 1;     // bit-in-segment width

    assign any = |bits;

    // bits, padded with zeros to whole segments
    wire [NSEG*SEG-1:0] padded;
    generate
        if (NSEG * SEG > WIDTH) begin : g_pad
            assign padded = {{(NSEG*SEG-WIDTH){1'b0}}, bits};
        end else begin : g_nopad
            assign padded = bits;
        end
    endgenerate

    wire [NSEG-1:0] seg_any;
    genvar s;
    generate
        for (s = 0; s < NSEG; s = s + 1) begin : g_seg
            assign seg_any[s] = |padded[s*SEG +: SEG];
        end
    endgenerate

    // Lowest set bit of each level, scanned from the top so the lowest wins.
    reg [S_W-1:0] seg_idx;
    reg [B_W-1:0] bit_idx;
    reg [SEG-1:0] seg_bits;
    integer i;
    always @* begin
        seg_idx = {S_W{1'b0}};
        for (i = NSEG - 1; i >= 0; i = i - 1)
            if (seg_any[i])
                seg_idx = i[S_W-1:0];
        seg_bits = padded[seg_idx*SEG +: SEG];
        bit_idx = {B_W{1'b0}};
        for (i = SEG - 1; i >= 0; i = i - 1)
            if (seg_bits[i])
                bit_idx = i[B_W-1:0];
    end

    // idx = seg_idx * SEG + bit_idx, formed in 32 bits and truncated
    wire [31:0] idx_32 = {{(32-S_W){1'b0}}, seg_idx} * SEG + {{(32-B_W){1'b0}}, bit_idx};
    assign idx = idx_32[IDX_W-1:0];

    wire _unused = &{1'b0, idx_32};

endmodule

`default_nettype wire
