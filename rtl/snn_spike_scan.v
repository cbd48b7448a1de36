// =============================================================================
// snn_spike_scan.v -- input-spike bitmap and zero-skipping priority encoder
// =============================================================================
// Two AXONS-bit bitmaps (chip-spec §2.1, §2.2 step 2, §5):
//   * the input-spike buffer collects AER spike events (`in_valid`/`in_axon`)
//     for the next timestep;
//   * the work bitmap holds the spikes of the running timestep. `latch`
//     (controller START) copies the buffer into it and clears the buffer; a
//     spike event arriving in that same cycle is kept for the next timestep.
// The priority encoder names the lowest pending axon (`work_idx`), so spiking
// axons are visited in ascending order and silent axons cost no cycle. `pop`
// retires that axon.
`default_nettype none

module snn_spike_scan #(
    // Axons per core (A); 1..4096.
    parameter integer AXONS = 1024,
    // Axon index width in bits; >= 1 and 2^AX_W >= AXONS.
    parameter integer AX_W = 10
) (
    input  wire            clk,                 // clock, rising edge
    input  wire            rst_n,               // synchronous reset, active low
    // spike events in (AER) ------------------------------------------------
    input  wire            in_valid,            // a spike arrives this cycle
    input  wire [AX_W-1:0] in_axon,             // its axon index, < AXONS
    // controller ---------------------------------------------------------------
    input  wire            latch,               // START: buffer -> work bitmap, clear buffer
    input  wire            pop,                 // retire the lowest pending axon
    output wire            in_any,              // input buffer holds a spike
    output wire            work_any,            // an axon is pending in the work bitmap
    output wire [AX_W-1:0] work_idx             // lowest pending axon (valid when work_any)
);

    // Two-level priority encoder: segments of SEG axons; the lowest non-empty
    // segment, then the lowest set bit inside it. Both levels are small
    // encoders, cheaper in gates (and in simulation) than one AXONS-wide one.
    localparam integer SEG  = (AXONS < 32) ? AXONS : 32;      // axons per segment
    localparam integer NSEG = (AXONS + SEG - 1) / SEG;         // segments
    localparam integer S_W  = (NSEG > 1) ? $clog2(NSEG) : 1;   // segment index width
    localparam integer B_W  = (SEG > 1) ? $clog2(SEG) : 1;     // bit-in-segment width

    reg  [AXONS-1:0] in_buf;
    reg  [AXONS-1:0] work;

    always @(posedge clk) begin
        if (!rst_n) begin
            in_buf <= {AXONS{1'b0}};
            work   <= {AXONS{1'b0}};
        end else begin
            if (latch) begin
                work   <= in_buf;
                in_buf <= {AXONS{1'b0}};
            end else if (pop) begin
                work[work_idx] <= 1'b0;            // retire the lowest pending axon
            end
            if (in_valid)
                in_buf[in_axon] <= 1'b1;           // after the clear: kept for the next timestep
        end
    end

    assign in_any   = |in_buf;
    assign work_any = |work;

    // work, padded with zeros to whole segments
    wire [NSEG*SEG-1:0] work_pad;
    generate
        if (NSEG * SEG > AXONS) begin : g_pad
            assign work_pad = {{(NSEG*SEG-AXONS){1'b0}}, work};
        end else begin : g_nopad
            assign work_pad = work;
        end
    endgenerate

    wire [NSEG-1:0] seg_any;
    genvar s;
    generate
        for (s = 0; s < NSEG; s = s + 1) begin : g_seg
            assign seg_any[s] = |work_pad[s*SEG +: SEG];
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
        seg_bits = work_pad[seg_idx*SEG +: SEG];
        bit_idx = {B_W{1'b0}};
        for (i = SEG - 1; i >= 0; i = i - 1)
            if (seg_bits[i])
                bit_idx = i[B_W-1:0];
    end

    // work_idx = seg_idx * SEG + bit_idx, formed in 32 bits and truncated
    wire [31:0] idx_32 = {{(32-S_W){1'b0}}, seg_idx} * SEG + {{(32-B_W){1'b0}}, bit_idx};
    assign work_idx = idx_32[AX_W-1:0];

    wire _unused = &{1'b0, idx_32};

endmodule

`default_nettype wire
