// =============================================================================
// snn_host_port.v -- host port of the chip: input buffer and host router (chip-spec §1.1, §5.1)
// =============================================================================
// The host is a sender attached at core 0. Network-input spikes arrive as AER
// events (`in_valid`/`in_index`, one per cycle, while the chip is idle) into
// the host input buffer, HOST_INPUTS bits. `go` hands the buffer to the host
// router (snn_router, SRC = HOST_INPUTS) and clears it; an event arriving in
// that same cycle is kept for the next timestep. The router then injects one
// packet per cycle (inputs ascending, entries in table order) and drains
// hop_latency * max_hops cycles: route_cycles_host of chip-spec §1.2.
// NOC_MESH = 1: the host router is the network interface of mesh router 0's
// local input (chip-spec §1.5): a packet leaves when `pkt_ready` grants it.
`default_nettype none

module snn_host_port #(
    // Host input buffer bits (network inputs); 1..4096.
    parameter integer HOST_INPUTS = 1024,
    // Host input index width in bits; >= 1 and 2^HI_W >= HOST_INPUTS.
    parameter integer HI_W = 10,
    // Routing-table entries; 1..4096.
    parameter integer ROUTES = 4,
    // Destination-core index width in bits; >= 1.
    parameter integer CS_W = 2,
    // Axon index width of the destination cores in bits; 1..12.
    parameter integer AX_W = 10,
    // Hop-count width in bits; >= 1.
    parameter integer HOP_W = 2,
    // Hop-latency register width in bits; >= 1.
    parameter integer HL_W = 7,
    // 1: the host router feeds mesh router 0 (pkt_ready, no tail); 0: contention-free NoC.
    parameter integer NOC_MESH = 0
) (
    input  wire                 clk,            // clock, rising edge
    input  wire                 rst_n,          // synchronous reset, active low (empty buffer and table)
    // network-input spikes in (AER) --------------------------------------------------------
    input  wire                 in_valid,       // a network input spikes (for the next timestep)
    input  wire [HI_W-1:0]      in_index,       // its input index, < HOST_INPUTS
    // host routing table (load interface) ------------------------------------------------
    input  wire                 tw_valid,       // write one field of one entry
    input  wire [RA_W-1:0]      tw_entry,       // entry index, < ROUTES
    input  wire [1:0]           tw_field,       // 0 dest_core (and its hop count), 1 src_lo, 2 src_hi, 3 axon_offset
    input  wire [31:0]          tw_data,        // field value
    input  wire [HOP_W-1:0]     tw_hops,        // hop count core 0 -> tw_data (with field 0)
    input  wire                 nr_valid,       // write the host n_routes
    input  wire [31:0]          nr_data,        // entries in use, 0..ROUTES
    input  wire [HL_W-1:0]      hop_latency,    // cycles per hop (chip register)
    // control ------------------------------------------------------------------------------
    output wire                 has_packets,    // the buffer holds an input covered by an entry
    input  wire                 go,             // route the buffered inputs (sampled while the router idles)
    output wire                 busy,           // the host router is busy (injecting, or its tail)
    output wire                 last,           // final busy cycle of the host router
    input  wire                 clr,            // clear the counters
    // packets out (one per cycle) --------------------------------------------------------
    output wire                 pkt_valid,      // a packet leaves this cycle (NOC_MESH = 1: is offered)
    input  wire                 pkt_ready,      // NOC_MESH = 1: the offered packet leaves this cycle
    output wire [CS_W-1:0]      pkt_dest,       // its destination core
    output wire [AX_W-1:0]      pkt_axon,       // its destination axon
    // status -------------------------------------------------------------------------------
    output wire [31:0]          cnt_packets,    // packets injected since clr
    output wire [31:0]          cnt_cycles      // busy cycles since clr
);

    localparam integer RA_W = (ROUTES > 1) ? $clog2(ROUTES) : 1;
    localparam [HOST_INPUTS-1:0] HOST_ZERO = 0;

    // ------------------------------------------------------------ input buffer
    reg  [HOST_INPUTS-1:0] host_buf;
    always @(posedge clk) begin
        if (!rst_n) begin
            host_buf <= HOST_ZERO;
        end else begin
            if (go)
                host_buf <= HOST_ZERO;                 // consumed by the host router
            if (in_valid)
                host_buf[in_index] <= 1'b1;            // after the clear: kept for the next timestep
        end
    end

    // ------------------------------------------------------------- host router
    /* verilator lint_off PINCONNECTEMPTY */
    snn_router #(
        .SRC(HOST_INPUTS), .ROUTES(ROUTES), .CS_W(CS_W), .AX_W(AX_W), .HOP_W(HOP_W), .HL_W(HL_W),
        .NOC_MESH(NOC_MESH)
    ) u_router (
        .clk         (clk),
        .rst_n       (rst_n),
        .tw_valid    (tw_valid),
        .tw_entry    (tw_entry),
        .tw_field    (tw_field),
        .tw_data     (tw_data),
        .tw_hops     (tw_hops),
        .nr_valid    (nr_valid),
        .nr_data     (nr_data),
        .hop_latency (hop_latency),
        .src_spikes  (host_buf),
        .has_packets (has_packets),
        .go          (go),
        .busy        (busy),
        .last        (last),
        .clr         (clr),
        .pkt_valid   (pkt_valid),
        .pkt_ready   (pkt_ready),
        .pkt_dest    (pkt_dest),
        .pkt_axon    (pkt_axon),
        .pkt_src     (),
        .max_hops    (),
        .cnt_packets (cnt_packets),
        .cnt_cycles  (cnt_cycles)
    );
    /* verilator lint_on PINCONNECTEMPTY */

endmodule

`default_nettype wire
