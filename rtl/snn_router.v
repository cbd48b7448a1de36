// =============================================================================
// snn_router.v -- routing table and packet injector of one sender (chip-spec §1.1, §1.2, §5.1)
// =============================================================================
// One per sender of rtl/snn_chip.v: every core and the host port. Holds the
// sender's routing table, entries (dest_core, src_lo, src_hi, axon_offset)
// plus each entry's hop count, and injects the sender's packets of one
// timestep into the (contention-free) NoC:
//
//   go (sampled in IDLE)  latch pending = src_spikes & covered, where
//                         covered[j] = some entry r < n_routes has
//                         src_lo_r <= j < src_hi_r; silent or uncovered
//                         sources cost nothing.
//   INJECT                one packet per cycle: source j = lowest pending,
//                         entry r = lowest entry matching j that has not sent
//                         j yet; packet (dest_core_r, axon_offset_r + j - src_lo_r).
//                         j retires with its last matching entry.
//   TAIL                  hop_latency * max_hops cycles after the last packet
//                         (max_hops = largest hop count over entries r < n_routes).
//
// A partial-sum core's router (chip-spec §1.3) is the same router: the chip
// feeds it the nonzero membranes as `src_spikes`, reads the value of source
// `pkt_src` and sends the packet's index (AX_W wide enough for a neuron
// index) as a destination neuron.
//
// busy for packets + hop_latency * max_hops cycles starting the cycle after
// `go`, 0 cycles when no packet is pending (chip-spec §1.2 route_cycles);
// `last` marks the final busy cycle. Counters of the packets and busy
// cycles since the last `clr` feed the chip's activity readout.
//
// NOC_MESH = 1 (chip-spec §1.5, §5.1 "Mesh routers"): the router is the
// network interface of a mesh router's local input. It offers the same packets
// in the same order, but a packet leaves only in a cycle with `pkt_ready` (its
// grant), and there is no TAIL: busy from the cycle after `go` through the
// cycle in which the last packet left, `last` in that cycle. With NOC_MESH = 0
// `pkt_ready` is ignored (every packet leaves in its cycle).
`default_nettype none

module snn_router #(
    // Source bits of this sender: NEURONS for a core, HOST_INPUTS for the host; 1..4096.
    parameter integer SRC = 256,
    // Routing-table entries; 1..4096.
    parameter integer ROUTES = 4,
    // Destination-core index width in bits; >= 1.
    parameter integer CS_W = 2,
    // Destination index width in bits (axon, or neuron of a partial-sum packet); 1..12.
    parameter integer AX_W = 10,
    // Hop-count width in bits; >= 1 (holds mesh_rows + mesh_cols - 2).
    parameter integer HOP_W = 2,
    // Hop-latency register width in bits; >= 1.
    parameter integer HL_W = 7,
    // 1: network interface of a mesh router (pkt_ready, no TAIL); 0: contention-free NoC.
    parameter integer NOC_MESH = 0
) (
    input  wire                 clk,            // clock, rising edge
    input  wire                 rst_n,          // synchronous reset, active low (empties the table)
    // table write (load interface) ---------------------------------------------------
    input  wire                 tw_valid,       // write one field of one entry
    input  wire [RA_W-1:0]      tw_entry,       // entry index, < ROUTES
    input  wire [1:0]           tw_field,       // 0 dest_core (and its hop count), 1 src_lo, 2 src_hi, 3 axon_offset
    input  wire [31:0]          tw_data,        // field value
    input  wire [HOP_W-1:0]     tw_hops,        // hop count sender -> tw_data (with field 0)
    input  wire                 nr_valid,       // write n_routes
    input  wire [31:0]          nr_data,        // entries in use, 0..ROUTES (0 = no packets: output core)
    input  wire [HL_W-1:0]      hop_latency,    // cycles per hop (chip register)
    // control ---------------------------------------------------------------------------
    input  wire [SRC-1:0]       src_spikes,     // bit j: source j spiked this timestep
    output wire                 has_packets,    // some spiking source is covered by an entry
    input  wire                 go,             // inject this timestep's packets (sampled in IDLE)
    output wire                 busy,           // INJECT or TAIL
    output wire                 last,           // final busy cycle
    input  wire                 clr,            // clear the counters
    // packets out (one per INJECT cycle) -----------------------------------------------
    output wire                 pkt_valid,      // a packet leaves this cycle (NOC_MESH = 1: is offered)
    input  wire                 pkt_ready,      // NOC_MESH = 1: the offered packet leaves this cycle
    output wire [CS_W-1:0]      pkt_dest,       // its destination core
    output wire [AX_W-1:0]      pkt_axon,       // its destination axon (a partial-sum packet: neuron)
    output wire [J_W-1:0]       pkt_src,        // its source j (the value a partial-sum packet carries is v[j])
    // status -----------------------------------------------------------------------------
    output reg  [HOP_W-1:0]     max_hops,       // largest hop count over entries < n_routes
    output reg  [31:0]          cnt_packets,    // packets injected since clr
    output reg  [31:0]          cnt_cycles      // busy cycles since clr
);

    // ---------------------------------------------------------------- widths
    localparam integer RA_W  = (ROUTES > 1) ? $clog2(ROUTES) : 1;      // entry index
    localparam integer RN_W  = $clog2(ROUTES + 1);                     // n_routes
    localparam integer SW    = $clog2(SRC + 1);                        // src_lo / src_hi (0..SRC)
    localparam integer TL_W  = HL_W + HOP_W;                           // tail cycles
    localparam integer J_W   = (SRC > 1) ? $clog2(SRC) : 1;           // source index j (snn_lowest_set)

    localparam [SRC-1:0]    SRC_ONES  = {SRC{1'b1}};
    localparam [SRC-1:0]    SRC_ZERO  = 0;
    localparam [ROUTES-1:0] RT_ZERO   = 0;
    // Sized zeros, not replications: wide tables exceed Verilator's replication limit.
    localparam [ROUTES*CS_W-1:0]  DEST_ZERO = 0;
    localparam [ROUTES*SW-1:0]    SRCF_ZERO = 0;
    localparam [ROUTES*AX_W-1:0]  OFF_ZERO  = 0;
    localparam [ROUTES*HOP_W-1:0] HOPS_ZERO = 0;

    localparam [1:0] S_IDLE   = 2'd0;
    localparam [1:0] S_INJECT = 2'd1;
    localparam [1:0] S_TAIL   = 2'd2;

    // ----------------------------------------------------------- routing table
    reg [ROUTES*CS_W-1:0]  t_dest;
    reg [ROUTES*SW-1:0]    t_lo;
    reg [ROUTES*SW-1:0]    t_hi;
    reg [ROUTES*AX_W-1:0]  t_off;
    reg [ROUTES*HOP_W-1:0] t_hops;
    reg [RN_W-1:0]         n_routes;

    wire [31:0] tw_entry_32 = {{(32-RA_W){1'b0}}, tw_entry};
    wire        tw_ok       = tw_valid && (tw_entry_32 < ROUTES);

    always @(posedge clk) begin
        if (!rst_n) begin
            t_dest   <= DEST_ZERO;
            t_lo     <= SRCF_ZERO;
            t_hi     <= SRCF_ZERO;
            t_off    <= OFF_ZERO;
            t_hops   <= HOPS_ZERO;
            n_routes <= {RN_W{1'b0}};
        end else begin
            if (tw_ok) begin
                case (tw_field)
                    2'd0: begin
                        t_dest[tw_entry*CS_W +: CS_W]   <= tw_data[CS_W-1:0];
                        t_hops[tw_entry*HOP_W +: HOP_W] <= tw_hops;
                    end
                    2'd1:    t_lo[tw_entry*SW +: SW]     <= tw_data[SW-1:0];
                    2'd2:    t_hi[tw_entry*SW +: SW]     <= tw_data[SW-1:0];
                    default: t_off[tw_entry*AX_W +: AX_W] <= tw_data[AX_W-1:0];
                endcase
            end
            if (nr_valid)
                n_routes <= nr_data[RN_W-1:0];
        end
    end

    // ------------------------------------------- coverage, max hops (static after loading)
    wire [31:0]     n_routes_32 = {{(32-RN_W){1'b0}}, n_routes};
    wire [ROUTES-1:0] t_en;
    wire [ROUTES*SRC-1:0] t_mask;   // entry r: sources src_lo_r .. src_hi_r - 1
    genvar r;
    generate
        for (r = 0; r < ROUTES; r = r + 1) begin : g_entry
            assign t_en[r] = r < n_routes_32;
            assign t_mask[r*SRC +: SRC] = t_en[r] ? ((SRC_ONES << t_lo[r*SW +: SW]) & ~(SRC_ONES << t_hi[r*SW +: SW]))
                                                  : SRC_ZERO;
        end
    endgenerate

    reg [SRC-1:0] covered;
    integer i;
    always @* begin
        covered  = SRC_ZERO;
        max_hops = {HOP_W{1'b0}};
        for (i = 0; i < ROUTES; i = i + 1) begin
            covered = covered | t_mask[i*SRC +: SRC];
            if (t_en[i] && t_hops[i*HOP_W +: HOP_W] > max_hops)
                max_hops = t_hops[i*HOP_W +: HOP_W];
        end
    end

    wire [SRC-1:0]  src_live = src_spikes & covered;
    assign has_packets = |src_live;
    // hop_latency * max_hops drain cycles (none on the mesh: the phase ends with its last delivery)
    wire [TL_W-1:0] tail = (NOC_MESH != 0) ? {TL_W{1'b0}} : hop_latency * max_hops;
    wire            step = (NOC_MESH == 0) || pkt_ready;     // the offered packet leaves this cycle

    // ------------------------------------------------ lowest pending source j
    reg  [SRC-1:0] pending;
    wire [J_W-1:0] j_idx;
    wire           pend_any;
    snn_lowest_set #(.WIDTH(SRC), .IDX_W(J_W)) u_lowest (
        .bits (pending),
        .any  (pend_any),
        .idx  (j_idx)
    );
    wire [31:0] j_32 = {{(32-J_W){1'b0}}, j_idx};
    wire [SRC-1:0] pend_rest = pending & (pending - 1'b1);   // pending without j

    // ----------------------------------------- entries that still send source j
    reg  [ROUTES-1:0] sent;      // entries that already sent j
    wire [ROUTES-1:0] match;
    generate
        for (r = 0; r < ROUTES; r = r + 1) begin : g_match
            wire [31:0] lo_32 = {{(32-SW){1'b0}}, t_lo[r*SW +: SW]};
            wire [31:0] hi_32 = {{(32-SW){1'b0}}, t_hi[r*SW +: SW]};
            assign match[r] = t_en[r] && !sent[r] && (lo_32 <= j_32) && (j_32 < hi_32);
        end
    endgenerate
    wire [ROUTES-1:0] match_rest = match & (match - 1'b1);   // without the lowest entry
    wire [ROUTES-1:0] match_low  = match ^ match_rest;       // one-hot: entry r
    wire              more_j     = |match_rest;               // j has another entry to send
    wire              last_pkt   = !more_j && (pend_rest == SRC_ZERO);

    // the lowest matching entry sends next: entries in table order (chip-spec §1.1)
    wire [RA_W-1:0] r_sel;
    wire            match_any;
    snn_lowest_set #(.WIDTH(ROUTES), .IDX_W(RA_W)) u_route_sel (
        .bits (match),
        .any  (match_any),
        .idx  (r_sel)
    );

    // ---------------------------------------------------------------- FSM
    reg [1:0]      state;
    reg [1:0]      nextstate;
    reg [TL_W-1:0] tail_cnt;

    always @* begin
        nextstate = state;
        case (state)
            S_IDLE:   if (go && has_packets) nextstate = S_INJECT;
            S_INJECT: if (last_pkt && step) nextstate = (tail == {TL_W{1'b0}}) ? S_IDLE : S_TAIL;
            S_TAIL:   if (tail_cnt == {{(TL_W-1){1'b0}}, 1'b1}) nextstate = S_IDLE;
            default:  nextstate = S_IDLE;
        endcase
    end

    always @(posedge clk) begin
        if (!rst_n) begin
            state    <= S_IDLE;
            pending  <= SRC_ZERO;
            sent     <= RT_ZERO;
            tail_cnt <= {TL_W{1'b0}};
        end else begin
            state <= nextstate;
            case (state)
                S_IDLE: if (go) begin
                    pending <= src_live;
                    sent    <= RT_ZERO;
                end
                S_INJECT: begin
                    if (step) begin
                        pending <= more_j ? pending : pend_rest;
                        sent    <= more_j ? (sent | match_low) : RT_ZERO;
                    end
                    tail_cnt <= tail;
                end
                S_TAIL: tail_cnt <= tail_cnt - 1'b1;
                default: ;
            endcase
        end
    end

    assign busy      = (state != S_IDLE);
    assign last      = ((state == S_INJECT) && last_pkt && step && (tail == {TL_W{1'b0}}))
                    || ((state == S_TAIL) && (tail_cnt == {{(TL_W-1){1'b0}}, 1'b1}));
    assign pkt_valid = (state == S_INJECT);
    assign pkt_dest  = t_dest[r_sel*CS_W +: CS_W];

    // axon = axon_offset_r + (j - src_lo_r), formed in 32 bits and truncated
    wire [31:0] off_32  = {{(32-AX_W){1'b0}}, t_off[r_sel*AX_W +: AX_W]};
    wire [31:0] lo_sel  = {{(32-SW){1'b0}}, t_lo[r_sel*SW +: SW]};
    wire [31:0] axon_32 = off_32 + j_32 - lo_sel;
    assign pkt_axon = axon_32[AX_W-1:0];
    assign pkt_src  = j_idx;

    // ----------------------------------------------------------- counters
    always @(posedge clk) begin
        if (!rst_n || clr) begin
            cnt_packets <= 32'd0;
            cnt_cycles  <= 32'd0;
        end else begin
            if (pkt_valid && step)
                cnt_packets <= cnt_packets + 32'd1;
            if (busy)
                cnt_cycles <= cnt_cycles + 32'd1;
        end
    end

    // Bits that are deliberately not used by every configuration.
    wire _unused = &{1'b0, tw_entry_32, tw_data, nr_data, n_routes_32, j_32, axon_32, pend_any, match_any};

endmodule

`default_nettype wire
