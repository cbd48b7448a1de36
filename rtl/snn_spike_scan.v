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
// retires that axon (clears the lowest set bit).
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
    output reg  [AX_W-1:0] work_idx             // lowest pending axon (valid when work_any)
);

    reg  [AXONS-1:0] in_buf;
    reg  [AXONS-1:0] work;

    wire [AXONS-1:0] one = {{(AXONS-1){1'b0}}, 1'b1};
    wire [AXONS-1:0] in_onehot = in_valid ? (one << in_axon) : {AXONS{1'b0}};

    always @(posedge clk) begin
        if (!rst_n) begin
            in_buf <= {AXONS{1'b0}};
            work   <= {AXONS{1'b0}};
        end else begin
            in_buf <= (latch ? {AXONS{1'b0}} : in_buf) | in_onehot;
            if (latch)
                work <= in_buf;
            else if (pop)
                work <= work & (work - one);   // clears the lowest set bit
        end
    end

    assign in_any   = |in_buf;
    assign work_any = |work;

    // Priority encoder: the lowest set bit wins (scanned from the top so the
    // last assignment is the lowest index).
    integer i;
    always @* begin
        work_idx = {AX_W{1'b0}};
        for (i = AXONS - 1; i >= 0; i = i - 1)
            if (work[i])
                work_idx = i[AX_W-1:0];
    end

endmodule

`default_nettype wire
