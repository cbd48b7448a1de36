// =============================================================================
// snn_spike_scan.v -- input-spike bitmap and zero-skipping priority encoder
// =============================================================================
// Two AXONS-bit bitmaps (chip-spec §2.1, §2.2 step 2, §5):
//   * the input-spike buffer collects AER spike events (`in_valid`/`in_axon`)
//     for the next timestep, up to IN_PORTS events per cycle (one per port;
//     the chip top level, chip-spec §5.1, gives every sender its own port);
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
    parameter integer AX_W = 10,
    // AER input ports (spike events accepted per cycle); 1..4097. 1 = one event per cycle.
    parameter integer IN_PORTS = 1
) (
    input  wire            clk,                 // clock, rising edge
    input  wire            rst_n,               // synchronous reset, active low
    // spike events in (AER) ------------------------------------------------
    input  wire [IN_PORTS-1:0]      in_valid,   // bit p: a spike arrives on port p this cycle
    input  wire [IN_PORTS*AX_W-1:0] in_axon,    // port p's axon index at [p*AX_W +: AX_W], < AXONS
    // controller ---------------------------------------------------------------
    input  wire            latch,               // START: buffer -> work bitmap, clear buffer
    input  wire            pop,                 // retire the lowest pending axon
    output wire            in_any,              // input buffer holds a spike
    output wire            work_any,            // an axon is pending in the work bitmap
    output wire [AX_W-1:0] work_idx             // lowest pending axon (valid when work_any)
);

    reg  [AXONS-1:0] in_buf;
    reg  [AXONS-1:0] work;
    integer p;

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
            for (p = 0; p < IN_PORTS; p = p + 1)
                if (in_valid[p])
                    in_buf[in_axon[p*AX_W +: AX_W]] <= 1'b1;   // after the clear: kept for the next timestep
        end
    end

    assign in_any = |in_buf;

    // lowest pending axon: spiking axons are visited in ascending order
    snn_lowest_set #(.WIDTH(AXONS), .IDX_W(AX_W)) u_lowest (
        .bits (work),
        .any  (work_any),
        .idx  (work_idx)
    );

endmodule

`default_nettype wire
